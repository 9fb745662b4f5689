"""The agent's features: the list (:data:`FEATURES`), the order they are
built in (:func:`start_order`), and what the agent knows of each without
importing its code (:data:`LAZY`, :data:`FEATURE_SECTIONS`), so that a
feature's code loads only when the config turns it on or its first stanza
comes (:class:`Unloaded` stands in for it until then).

A feature loaded late starts with the stream already up: its ``on_online``
is not called (none of the lazy ones keeps anything per stream before its
first stanza).
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable
from typing import Any, Protocol

from stanzalink.access import Role
from stanzalink.config import DeviceConfig
from stanzalink.errors import LocalProtocolError, StanzaError
from stanzalink.xep.base import Built, Feature, IQRoute, MissingFeature
from stanzalink.xep.identity import IDENTITY, card_configured
from stanzalink.xml import Element
from stanzalink.xml.plain import E, sub

# The features, in the order they are asked about messages.  "module:Class";
# a feature whose config section is absent may serve nothing.
FEATURES: list[str] = [
    "stanzalink.xep.ping:Ping",
    "stanzalink.xep.roster:Roster",
    "stanzalink.xep.disco:Disco",
    "stanzalink.xep.caps:Caps",
    "stanzalink.xep.version:Version",
    "stanzalink.xep.vcard:VCard",
    "stanzalink.xep.time:Time",
    "stanzalink.console.feature:Console",
    "stanzalink.xep.adhoc:AdHoc",
    "stanzalink.xep.bytestreams:Bytestreams",
    "stanzalink.xep.http.feature:Http",
    "stanzalink.xep.ibb:Ibb",
    "stanzalink.xep.jingle.core:Jingle",
    "stanzalink.xep.jingle.s5b_transport:JingleS5B",
    "stanzalink.xep.jingle.ibb:JingleIBB",
    "stanzalink.xep.hashes:Hashes",
    "stanzalink.xep.jingle.file_transfer:Files",
]


class Lazy:
    """What the agent knows of a feature without importing its code: enough
    to check its config section, answer disco#info (so the entity
    capabilities hash is the same whether it is loaded or not) and notice
    the first stanza for it.  ``group``: the features loaded together (the
    Jingle features find each other among the running ones);
    ``disco_features`` and ``iq`` (type, payload tag): what the feature,
    built with a config that leaves its group off, declares; ``nodes``: it
    owns disco nodes (a disco query with a node loads it); ``controllers``:
    a message or presence from a controller is for it; ``presence``: what
    it adds to the device's presence while its group is off.
    tests/test_lazy_load.py holds this table to the features' code.  (A
    plain class, not a dataclass: that module would stay loaded for it.)"""

    __slots__ = ("controllers", "disco_features", "group", "iq", "nodes", "presence")

    def __init__(
        self,
        group: str,
        disco_features: tuple[str, ...] = (),
        iq: tuple[tuple[str, str], ...] = (),
        nodes: bool = False,
        controllers: bool = False,
        presence: Callable[[], list[Built]] | None = None,
    ) -> None:
        self.group = group
        self.disco_features = disco_features
        self.iq = iq
        self.nodes = nodes
        self.controllers = controllers
        self.presence = presence


def _no_photo() -> list[Built]:
    """The vCard's presence payload without a picture (XEP-0153: an empty
    ``photo``), which the vCard feature adds while ``[identity]`` sets none
    of its keys."""
    x = E("{vcard-temp:x:update}x")
    sub(x, "{vcard-temp:x:update}photo")
    return [x]


_FILES = "files"
_HASH_NAMES = ("blake2b-512", "sha3-512", "sha-512", "blake2b-256", "sha3-256", "sha-256")
_IBB = "http://jabber.org/protocol/ibb"

# The features of FEATURES that are loaded only when the config turns their
# group on (GROUP_ON) or their first stanza comes; the others always load.
LAZY: dict[str, Lazy] = {
    "stanzalink.xep.ping:Ping": Lazy("ping", ("urn:xmpp:ping",), (("get", "{urn:xmpp:ping}ping"),)),
    "stanzalink.xep.version:Version": Lazy(
        "version", ("jabber:iq:version",), (("get", "{jabber:iq:version}query"),)
    ),
    "stanzalink.xep.time:Time": Lazy("time", ("urn:xmpp:time",), (("get", "{urn:xmpp:time}time"),)),
    # with [identity] setting none of its keys it publishes nothing: only a
    # controller's vCard get loads it
    "stanzalink.xep.vcard:VCard": Lazy(
        "vcard", ("vcard-temp",), (("get", "{vcard-temp}vCard"),), presence=_no_photo
    ),
    "stanzalink.console.feature:Console": Lazy(
        "console",
        ("http://jabber.org/protocol/xhtml-im", "urn:xmpp:styling:0", "urn:xmpp:reply:0"),
        controllers=True,
    ),
    "stanzalink.xep.adhoc:AdHoc": Lazy(
        "adhoc",
        ("http://jabber.org/protocol/commands",),
        (("set", "{http://jabber.org/protocol/commands}command"),),
        nodes=True,
    ),
    "stanzalink.xep.bytestreams:Bytestreams": Lazy(
        _FILES,
        ("http://jabber.org/protocol/bytestreams",),
        (("set", "{http://jabber.org/protocol/bytestreams}query"),),
    ),
    # without an origin it announces nothing (and answers every request
    # with an error)
    "stanzalink.xep.http.feature:Http": Lazy("http", (), (("set", "{urn:xmpp:http}req"),)),
    "stanzalink.xep.ibb:Ibb": Lazy(
        _FILES, (_IBB,), tuple(("set", f"{{{_IBB}}}{v}") for v in ("open", "data", "close"))
    ),
    "stanzalink.xep.jingle.core:Jingle": Lazy(
        _FILES, ("urn:xmpp:jingle:1",), (("set", "{urn:xmpp:jingle:1}jingle"),)
    ),
    "stanzalink.xep.jingle.s5b_transport:JingleS5B": Lazy(_FILES),
    "stanzalink.xep.jingle.ibb:JingleIBB": Lazy(_FILES, ("urn:xmpp:jingle:transports:ibb:1",)),
    "stanzalink.xep.hashes:Hashes": Lazy(
        _FILES,
        ("urn:xmpp:hashes:2", *(f"urn:xmpp:hash-function-text-names:{a}" for a in _HASH_NAMES)),
    ),
    "stanzalink.xep.jingle.file_transfer:Files": Lazy(
        _FILES, ("urn:xmpp:jingle:apps:file-transfer:5",)
    ),
}


# what turns a group on, read from what the file gives (DeviceConfig.sections:
# each key's default is off, tests/test_lazy_load.py), so that a section the
# file does not have is not imported for its defaults
def _files_on(cfg: DeviceConfig) -> bool:
    # with socks5 on, the SOCKS5 transport announces itself and looks for
    # the server's proxy at login
    files = cfg.sections.get("files", {})
    return bool(files.get("inbox") or files.get("export") or files.get("socks5"))


def _http_on(cfg: DeviceConfig) -> bool:
    http = cfg.sections.get("http", {})
    return bool(http.get("origin") or http.get("wsgi_app"))


# the lazy groups a config turns on at start (a group not named here loads
# on its first stanza only)
def _vcard_on(cfg: DeviceConfig) -> bool:
    return card_configured(IDENTITY.of(cfg))


GROUP_ON: dict[str, Callable[[DeviceConfig], bool]] = {
    _FILES: _files_on,
    "http": _http_on,
    "vcard": _vcard_on,
}

# the config sections of FEATURES, in their order, by name: the light
# modules that declare them (none imports a feature's code) are imported
# when the file has the section or something reads it
# (config.DeclaredElsewhere)
FEATURE_SECTIONS: dict[str, str] = {
    "identity": "stanzalink.xep.identity:IDENTITY",
    "console": "stanzalink.commands.settings:CONSOLE",
    "adhoc": "stanzalink.xep.adhoc_config:ADHOC",
    "files": "stanzalink.xep.files_config:FILES",
    "http": "stanzalink.xep.http.settings:HTTP",
}


def load_object(spec: str) -> Any:
    """The object ``module:NAME`` names."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def load_feature(spec: str) -> type[Feature]:
    feature = load_object(spec)
    assert isinstance(feature, type) and issubclass(feature, Feature), spec
    return feature


def imported(spec: str) -> type[Feature] | None:
    """The feature ``spec`` names if its module is already imported."""
    module, _, name = spec.partition(":")
    found = getattr(sys.modules.get(module), name, None)
    return found if isinstance(found, type) and issubclass(found, Feature) else None


def start_order(classes: list[type[Feature]]) -> list[type[Feature]]:
    """``classes`` with every feature after the features it ``requires``
    (otherwise in the order given); MissingFeature names a requirement
    that is not among them, LocalProtocolError a circle."""
    out: list[type[Feature]] = []
    visiting: set[type[Feature]] = set()

    def provider(need: type[Feature]) -> type[Feature] | None:
        return next((c for c in classes if issubclass(c, need)), None)

    def visit(cls: type[Feature]) -> None:
        if cls in out:
            return
        if cls in visiting:
            raise LocalProtocolError(f"features require each other in a circle: {cls.__name__}")
        visiting.add(cls)
        for need in cls.requires:
            dep = provider(need)
            if dep is None:
                raise MissingFeature(
                    f"feature {cls.__name__} ({cls.name}) requires {need.__name__}"
                    f" ({need.name}), which is not loaded"
                )
            visit(dep)
        visiting.discard(cls)
        out.append(cls)

    for cls in classes:
        visit(cls)
    return out


CONSOLE = "stanzalink.console.feature:Console"


class Loader(Protocol):
    """What a stand-in needs of the agent."""

    def load_group(self, group: str) -> None: ...

    def running(self, spec: str) -> Feature | None: ...

    def late_route(self, kind: str, tag: str) -> Callable[[Element], Any] | None: ...


class Unloaded(Feature):
    """A lazy feature whose code is not loaded yet: it answers disco from its
    :class:`Lazy` entry and loads its group (then hands the stanza over)
    on the first IQ it declares, a query for a disco node it may own, or a
    controller's message or presence when it declares them."""

    def __init__(self, agent: Loader, spec: str, lazy: Lazy) -> None:
        super().__init__(agent)  # type: ignore[arg-type]  # only the loader's parts are used
        self.agent = agent
        self.spec = spec
        self.lazy = lazy
        self.name = spec.rsplit(":", 1)[1].lower()  # type: ignore[misc]
        self.disco_features = lazy.disco_features  # type: ignore[misc]

    def _loaded(self) -> Feature:
        self.agent.load_group(self.lazy.group)
        feat = self.agent.running(self.spec)
        assert feat is not None, self.spec
        return feat

    def iq_routes(self) -> list[IQRoute]:
        # the least any route asks (the own server may ask some): whoever
        # passes that, the loaded feature's own route then checks
        return [
            IQRoute(kind, tag, functools.partial(self._first_iq, kind, tag), Role.VIEWER, True)
            for kind, tag in self.lazy.iq
        ]

    def _first_iq(self, kind: str, tag: str, iq: Element, role: Role | None) -> Any:
        self.agent.load_group(self.lazy.group)
        gate = self.agent.late_route(kind, tag)
        if gate is None:
            raise StanzaError("service-unavailable")
        return gate(iq)

    def disco_nodes(self) -> dict[str, Callable[[Role], Any]]:
        if not self.lazy.nodes:
            return {}
        return self._loaded().disco_nodes()  # type: ignore[attr-defined,no-any-return]

    def presence_payload(self) -> list[Built]:
        return self.lazy.presence() if self.lazy.presence is not None else []

    def on_message(self, msg: Element, role: Role) -> bool:
        return self.lazy.controllers and self._loaded().on_message(msg, role)

    def on_presence(self, pres: Element, role: Role | None) -> bool:
        # an available presence only: any other concerns what a loaded
        # feature has seen (an unavailable one, the answer to the roster's
        # probe of an offline controller, loads nothing)
        if not self.lazy.controllers or role is None or pres.get("type") is not None:
            return False
        return self._loaded().on_presence(pres, role)
