"""What a feature module is, and what it may use.

A feature (usually one XEP) is a class derived from :class:`Feature`.  It
never touches the connection: the agent hands it a :class:`Context` and
calls it with stanzas that already passed the access check; it answers with
stanzas (returned from IQ handlers, or sent through ``ctx.send``).  Feature
modules import ``stanzalink.xml``, ``stanzalink.access``, ``stanzalink.jid``
and ``stanzalink.errors``, never ``session`` or ``aio`` (DESIGN.md rule 4).

A minimal feature::

    class Time(Feature):
        name = "time"
        disco_features = ("urn:xmpp:time",)

        def iq_routes(self):
            return [IQRoute("get", "{urn:xmpp:time}time", self.time, Role.VIEWER)]

        def time(self, iq: Element, role: Role | None) -> Built:
            return E("{urn:xmpp:time}time", ...)

A feature that needs another names it in ``requires`` and finds it by type
(``self.ctx.feature(Disco)``, an instance or None); the agent refuses to
assemble features whose requirement is missing and starts a required
feature first.  The hooks one feature offers another are typed as well
and found with ``isinstance`` among ``ctx.features()``, never by name or
``getattr``: disco's :class:`~stanzalink.xep.disco.NodeOwner` and
:class:`~stanzalink.xep.disco.ItemLister`, Jingle's
:class:`~stanzalink.xep.jingle.session.TransportProvider` and
:class:`~stanzalink.xep.jingle.session.Application`.  I/O (sockets, the
HTTP origin) comes through the constructor, from ``Agent._make``.

A feature never reads the event loop's clock: every
timeout and timer goes through ``self.ctx.clock`` (a :class:`Clock`; the
agent gives the loop's, the conversation harness a manual one that tests
move forward at once).

The agent answers ``service-unavailable`` to an IQ whose sender is not
allowed by the route (exactly what it answers for a payload nobody serves,
so a stranger learns nothing), and to every IQ nobody routes.

What a feature sends or answers is built with :mod:`stanzalink.xml.builder`
(ElementTree) or :mod:`stanzalink.xml.plain` (no ElementTree: what the
agent sends while logging in and idle is built so, and an idle agent never
loads ElementTree); both write the same bytes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeAlias, TypeVar

from stanzalink._value import Value, _set
from stanzalink.access import AccessControl, Role
from stanzalink.clock import Clock, LoopClock
from stanzalink.config import Section
from stanzalink.errors import LocalProtocolError, StanzaError
from stanzalink.jid import JID
from stanzalink.stanza import error_reply, result_reply
from stanzalink.xml import Element
from stanzalink.xml.plain import Built

if TYPE_CHECKING:
    import asyncio
    import xml.etree.ElementTree as ET

    from stanzalink.config import DeviceConfig

__all__ = [
    "OWN_SERVER",
    "Built",
    "Clock",
    "Context",
    "Feature",
    "IQRoute",
    "Identity",
    "LoopClock",
    "MissingFeature",
    "Role",
    "StanzaError",
    "error_reply",
    "result_reply",
]

# an IQRoute.need meaning: only the own server / own account (roster pushes)
OWN_SERVER = "own-server"

F = TypeVar("F", bound="Feature")

IQResult: TypeAlias = "Built | None"
IQHandlerFn: TypeAlias = "Callable[[Element, Role | None], Awaitable[IQResult] | IQResult]"


class IQRoute(Value):
    """Serve IQs of ``type`` ("get" or "set") whose payload is ``tag``
    (``{ns}local``).  ``need``: the least role the sender must have, or
    :data:`OWN_SERVER`.  The handler gets the IQ and the sender's role and
    returns the result payload (None for an empty result) or raises
    :class:`StanzaError`.  ``own_server``: the own server and account may
    ask too (their role is None): Prosody's PEP service asks the device's
    disco#info on its account's behalf to learn its entity capabilities."""

    __slots__ = ("handler", "need", "own_server", "tag", "type")
    type: str
    tag: str
    handler: IQHandlerFn
    need: Role | str
    own_server: bool

    def __init__(
        self,
        type: str,
        tag: str,
        handler: IQHandlerFn,
        need: Role | str = Role.VIEWER,
        own_server: bool = False,
    ) -> None:
        _set(self, "type", type)
        _set(self, "tag", tag)
        _set(self, "handler", handler)
        _set(self, "need", need)
        _set(self, "own_server", own_server)


class Identity(Value):
    """An XEP-0030 identity."""

    __slots__ = ("category", "lang", "name", "type")
    category: str
    type: str
    name: str
    lang: str | None

    def __init__(self, category: str, type: str, name: str = "", lang: str | None = None) -> None:
        _set(self, "category", category)
        _set(self, "type", type)
        _set(self, "name", name)
        _set(self, "lang", lang)


class MissingFeature(LocalProtocolError):
    """A feature was loaded without a feature it requires (a local misuse:
    the feature list is wrong)."""


class Context(Protocol):
    """What the agent offers every feature."""

    config: DeviceConfig
    access: AccessControl
    clock: Clock

    @property
    def jid(self) -> JID:
        """The device's full JID once bound (its bare JID before)."""

    @property
    def online(self) -> bool: ...

    def send(self, stanza: Built) -> None:
        """Queue a stanza for sending (raises QueueFull when the bounded
        stream-management queue is full)."""

    async def iq(self, stanza: Built, timeout: float | None = None) -> Element:
        """Send an IQ get/set and wait for the answer; StanzaError (an
        IQError) when the answer is an error."""

    def feature(self, cls: type[F]) -> F | None:
        """The running feature of type ``cls`` (for example ``Disco``), or None."""

    def features(self) -> list[Feature]: ...

    def update_presence(self) -> None:
        """Send the device's presence again (status, caps, avatar hash changed)."""

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str = "") -> asyncio.Task[Any]:
        """Run a coroutine in the background; its failure is logged; it is
        cancelled when the agent stops."""

    def now(self) -> float:
        """Monotonic seconds (``clock.now()``)."""


class Feature:
    """Base class of the agent's features.  Override what applies.

    ``name`` is what the log calls the feature; ``requires`` the features
    it cannot work without (the agent checks they are loaded, and builds
    them first)."""

    name: ClassVar[str] = ""
    requires: ClassVar[tuple[type[Feature], ...]] = ()
    disco_features: ClassVar[tuple[str, ...]] = ()
    identities: ClassVar[tuple[Identity, ...]] = ()
    # the config sections the feature reads (declared next to its code); the
    # agent checks the file against them
    config_sections: ClassVar[tuple[Section, ...]] = ()

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # -- what the feature serves
    def iq_routes(self) -> Iterable[IQRoute]:
        return ()

    def on_message(self, msg: Element, role: Role) -> bool:
        """A message from a controller (role already checked: never a
        stranger, never type groupchat or error).  True if handled: later
        features are not asked."""
        return False

    def on_presence(self, pres: Element, role: Role | None) -> bool:
        """Every presence (strangers included, role None): the roster
        feature refuses their subscription requests.  True if handled."""
        return False

    def presence_payload(self) -> Sequence[Built]:
        """Children to add to the device's own presence (caps, avatar hash)."""
        return []

    def disco_extensions(self) -> list[ET.Element]:
        """XEP-0128 data forms to add to disco#info."""
        return []

    # -- lifecycle
    def on_online(self, resumed: bool) -> None:
        """The session is online (``resumed``: stream management resumed it)."""

    def on_offline(self) -> None:
        """The connection is gone (it may come back)."""

    async def stop(self) -> None:
        """The agent stops: end transfers, sessions, tasks."""
