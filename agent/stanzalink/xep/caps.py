"""XEP-0115 Entity Capabilities: the device's presence carries a hash of
its disco#info, so a contact's client caches what the device can do
instead of asking every time.

``<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node=NODE ver=VER/>``
goes into every presence the device sends.  NODE is ``[identity]
caps_node``, default ``urn:stanzalink:caps`` (XEP-0115 asks for a URI that
names the software; the project has no web address of its own, and a
``urn:`` name is a URI that never points at someone else's site).  VER is
computed by :func:`verification_string` from :meth:`Disco.root_info`
each time the presence is built, so a feature that changes what it
advertises only has to call ``ctx.update_presence()``.

A disco#info query for ``NODE#VER`` (what a contact sends after seeing
the presence) is answered exactly like one without a node, with the node
echoed (§6.2); an older VER is an unknown node (``item-not-found``).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import TYPE_CHECKING, TypeAlias

from stanzalink.access import Role
from stanzalink.digest import digest
from stanzalink.xep.base import Built, Feature, Identity
from stanzalink.xep.disco import INFO, XML_LANG, Disco, NodeFn, NodeInfo
from stanzalink.xep.identity import IDENTITY
from stanzalink.xml import Element
from stanzalink.xml.plain import E

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

NS = "http://jabber.org/protocol/caps"
DATA = "jabber:x:data"

Form: TypeAlias = "Built | Element"


def _form_fields(form: Form) -> tuple[str | None, list[tuple[str, list[str]]]]:
    """(FORM_TYPE, [(var, values)]) of a data form."""
    form_type: str | None = None
    fields: list[tuple[str, list[str]]] = []
    for f in form:
        if f.tag != f"{{{DATA}}}field":
            continue
        var = f.get("var") or ""
        values = [v.text or "" for v in f if v.tag == f"{{{DATA}}}value"]
        if var == "FORM_TYPE":
            form_type = values[0] if values else ""
        else:
            fields.append((var, values))
    return form_type, fields


def verification_string(
    identities: Iterable[Identity], features: Iterable[str], forms: Iterable[Form] = ()
) -> str:
    """The string S of XEP-0115 §5.1 (before hashing)."""
    parts: list[str] = []
    # 2-4: identities as category/type/lang/name, sorted by category, then
    # type, then xml:lang, then name
    idents = sorted({(i.category, i.type, i.lang or "", i.name or "") for i in identities})
    parts.extend("/".join(i) + "<" for i in idents)
    # 5-7: features, sorted
    parts.extend(f + "<" for f in sorted(set(features)))
    # 8: extended information, forms sorted by FORM_TYPE, fields by var,
    # values sorted; forms without a FORM_TYPE are left out
    typed = []
    for form in forms:
        form_type, fields = _form_fields(form)
        if form_type is not None:
            typed.append((form_type, fields))
    for form_type, fields in sorted(typed, key=lambda t: t[0]):
        parts.append(form_type + "<")
        for var, values in sorted(fields, key=lambda f: f[0]):
            parts.append(var + "<")
            parts.extend(v + "<" for v in sorted(values))
    return "".join(parts)


def ver(identities: Iterable[Identity], features: Iterable[str], forms: Iterable[Form] = ()) -> str:
    """The ``ver`` attribute: base64 of the SHA-1 of the verification string."""
    s = verification_string(identities, features, forms)
    return base64.b64encode(digest("sha1", s.encode("utf-8"))).decode("ascii")


def ver_of_info(query: Element | ET.Element) -> str:
    """``ver`` of a received disco#info ``<query/>`` (to check another
    entity's caps, and to test this module against the XEP's examples)."""
    identities = [
        Identity(i.get("category") or "", i.get("type") or "", i.get("name") or "", i.get(XML_LANG))
        for i in query
        if i.tag == f"{{{INFO}}}identity"
    ]
    features = [f.get("var") or "" for f in query if f.tag == f"{{{INFO}}}feature"]
    forms = [x for x in query if x.tag == f"{{{DATA}}}x"]
    return ver(identities, features, forms)


class Caps(Feature):
    name = "caps"
    config_sections = (IDENTITY,)
    requires = (Disco,)
    disco_features = (NS,)

    @property
    def node(self) -> str:
        return str(IDENTITY.of(self.ctx.config)["caps_node"])

    def _disco(self) -> Disco | None:
        return self.ctx.feature(Disco)

    @property
    def ver(self) -> str | None:
        """The current ``ver`` (None without the disco feature)."""
        disco = self._disco()
        if disco is None:
            return None
        info = disco.root_info()
        return ver(info.identities, info.features, info.forms)

    def presence_payload(self) -> list[Built]:
        v = self.ver
        if v is None:
            return []
        return [E(f"{{{NS}}}c", {"hash": "sha-1", "node": self.node, "ver": v})]

    def disco_nodes(self) -> dict[str, NodeFn]:
        disco = self._disco()
        v = self.ver
        if disco is None or v is None:
            return {}

        def info(role: Role) -> NodeInfo:
            return disco.root_info()

        return {f"{self.node}#{v}": info}
