"""XEP-0030 Service Discovery: what the device is and what it can do, as
its controllers see it (strangers get ``service-unavailable``, like for any
other query: the route needs the viewer role).

The device's identity is ``category="client" type="bot"``.  The Service
Discovery Identities registry defines the client types bot, console, game,
handheld, pc, phone, sms, tablet and web; "bot" is "an automated client that
is not controlled by a human user", which is what a headless device agent
is (it has no human at its keyboard; "console" would describe a
command-line client a person types into).  Its name is ``[identity] name``
when set, else "stanzalink".

disco#info (no node) answers that identity plus every feature's
``identities``, the union of every feature's ``disco_features``, and the
XEP-0128 data forms of every feature's ``disco_extensions()``.

Hooks for other features (typed: a feature that has the method is a
:class:`NodeOwner` or an :class:`ItemLister`, checked with ``isinstance``):

:meth:`NodeOwner.disco_nodes` ``() -> dict[str, Callable[[Role], NodeInfo | None]]``
    The nodes the feature owns (the ad-hoc commands feature owns
    ``http://jabber.org/protocol/commands`` and one node per command; the
    caps feature owns ``node#ver``).  A disco#info or disco#items query with
    that ``node`` is answered from the :class:`NodeInfo` the callable returns
    for the asker's role; None (or a node nobody owns) answers
    ``item-not-found``.

:meth:`ItemLister.disco_items` ``(role) -> list[DiscoItem]``
    Items to list in the disco#items answer without a node (none by default,
    so that answer is usually empty).

An :class:`DiscoItem` without a ``jid`` is the device itself (its full JID).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from stanzalink._value import Value, _set
from stanzalink.access import Role
from stanzalink.stanza import SID
from stanzalink.xep.base import Feature, Identity, IQRoute, StanzaError
from stanzalink.xep.identity import IDENTITY
from stanzalink.xml import Element
from stanzalink.xml.plain import E, PlainElement, sub

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

INFO = "http://jabber.org/protocol/disco#info"
ITEMS = "http://jabber.org/protocol/disco#items"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
DEFAULT_NAME = "stanzalink"


class DiscoItem(Value):
    """A disco#items entry; ``jid`` None means the device's own JID."""

    __slots__ = ("jid", "name", "node")
    jid: str | None
    node: str | None
    name: str | None

    def __init__(
        self, jid: str | None = None, node: str | None = None, name: str | None = None
    ) -> None:
        _set(self, "jid", jid)
        _set(self, "node", node)
        _set(self, "name", name)


class NodeInfo:
    """What one node (or the device itself) answers (equal when every list is)."""

    __slots__ = ("features", "forms", "identities", "items")

    def __init__(
        self,
        identities: list[Identity] | None = None,
        features: list[str] | None = None,
        items: list[DiscoItem] | None = None,
        forms: list[ET.Element] | None = None,
    ) -> None:
        self.identities: list[Identity] = [] if identities is None else identities
        self.features: list[str] = [] if features is None else features
        self.items: list[DiscoItem] = [] if items is None else items
        self.forms: list[ET.Element] = [] if forms is None else forms

    def _fields(self) -> tuple[object, ...]:
        return (self.identities, self.features, self.items, self.forms)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, NodeInfo)
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"NodeInfo(identities={self.identities!r}, features={self.features!r}, "
            f"items={self.items!r}, forms={self.forms!r})"
        )


NodeFn = Callable[[Role], "NodeInfo | None"]


@runtime_checkable
class NodeOwner(Protocol):
    """A feature that owns disco nodes."""

    def disco_nodes(self) -> dict[str, NodeFn]: ...


@runtime_checkable
class ItemLister(Protocol):
    """A feature that lists disco#items of the device itself."""

    def disco_items(self, role: Role) -> list[DiscoItem]: ...


def _attrs(**values: str | None) -> dict[str, str]:
    return {k: v for k, v in values.items() if v is not None}


def info_element(info: NodeInfo, node: str | None = None) -> PlainElement:
    """The ``<query xmlns='…disco#info'/>`` for ``info`` (identities and
    features de-duplicated, features sorted: the answer is stable).  A
    plain element: the own server asks for it after every login."""
    query = E(f"{{{INFO}}}query", _attrs(node=node))
    seen: set[tuple[str, str, str | None, str]] = set()
    for ident in info.identities:
        key = (ident.category, ident.type, ident.lang, ident.name)
        if key in seen:
            continue
        seen.add(key)
        attrs = {"category": ident.category, "type": ident.type}
        if ident.name:
            attrs["name"] = ident.name
        if ident.lang:
            attrs[XML_LANG] = ident.lang
        sub(query, f"{{{INFO}}}identity", attrs)
    for var in sorted(set(info.features)):
        sub(query, f"{{{INFO}}}feature", {"var": var})
    for form in info.forms:
        query.append(form)
    return query


class Disco(Feature):
    name = "disco"
    config_sections = (IDENTITY,)
    # and what the client does for every message: XEP-0359 origin-id
    disco_features = (INFO, ITEMS, SID)

    def iq_routes(self) -> list[IQRoute]:
        return [
            # the own server may ask too: its PEP service reads the caps
            IQRoute("get", f"{{{INFO}}}query", self._info, Role.VIEWER, own_server=True),
            IQRoute("get", f"{{{ITEMS}}}query", self._items, Role.VIEWER),
        ]

    # ------------------------------------------------------------ public
    @property
    def identity(self) -> Identity:
        name = IDENTITY.of(self.ctx.config)["name"] or DEFAULT_NAME
        return Identity("client", "bot", str(name))

    def root_info(self) -> NodeInfo:
        """The device's own disco#info: the same for every asker (entity
        capabilities hash it)."""
        info = NodeInfo(identities=[self.identity])
        for feat in self.ctx.features():
            info.identities.extend(feat.identities)
            info.features.extend(feat.disco_features)
            info.forms.extend(feat.disco_extensions())
        return info

    def nodes(self) -> dict[str, NodeFn]:
        """Every node some feature owns."""
        out: dict[str, NodeFn] = {}
        for feat in self.ctx.features():
            if isinstance(feat, NodeOwner):
                out.update(feat.disco_nodes())
        return out

    def node(self, node: str) -> NodeFn | None:
        """The owner's callable for ``node``: the owners asked in feature
        order, until one has it (a feature whose code is not loaded yet is
        loaded only when the ones before it do not own the node)."""
        for feat in self.ctx.features():
            if isinstance(feat, NodeOwner):
                fn = feat.disco_nodes().get(node)
                if fn is not None:
                    return fn
        return None

    # ------------------------------------------------------------ handlers
    def _node(self, iq: Element, ns: str, role: Role | None) -> tuple[str | None, NodeInfo]:
        tag = f"{{{ns}}}query"
        query = next((c for c in iq if c.tag == tag), None)  # (no ElementPath when idle)
        node = query.get("node") if query is not None else None
        if node is None:
            return None, self.root_info()
        fn = self.node(node)
        info = fn(role or Role.VIEWER) if fn is not None else None
        if info is None:
            raise StanzaError("item-not-found")
        return node, info

    def _info(self, iq: Element, role: Role | None) -> PlainElement:
        node, info = self._node(iq, INFO, role)
        return info_element(info, node)

    def _items(self, iq: Element, role: Role | None) -> PlainElement:
        node, info = self._node(iq, ITEMS, role)
        items: Iterable[DiscoItem] = info.items
        if node is None:
            items = [
                item
                for feat in self.ctx.features()
                if isinstance(feat, ItemLister)
                for item in feat.disco_items(role or Role.VIEWER)
            ]
        query = E(f"{{{ITEMS}}}query", _attrs(node=node))
        own = str(self.ctx.jid)
        for item in items:
            attrs = _attrs(jid=item.jid or own, node=item.node, name=item.name)
            sub(query, f"{{{ITEMS}}}item", attrs)
        return query
