"""The session's state machine: every state, every step between states, and
what each state accepts from the server, in two tables.

``STEPS`` is the whole machine.  A step is something the session does (it
names the bytes that go with it: ``starttls`` is ``<starttls/>`` sent) or a
happening it is told of (``tls``: the adapter finished the handshake).  Each
row reads "in this state, this step leads to that state"; a step a state has
no row for is a local bug, refused with :class:`LocalProtocolError` before
anything changes.  :func:`advance` is the only way to a new state.

``ACCEPTS`` says which inputs a state takes: the peer's stream header
(``open``), a top-level element by its ``{namespace}local`` name, or
``stanza`` (a message, presence or IQ once online).  Anything else the
server sends is its fault: a stream error.

::

    DISCONNECTED --connect--> STREAM_START --header--> FEATURES
    FEATURES --starttls--> STARTTLS --proceed--> TLS_HANDSHAKE --tls--> STREAM_START
    FEATURES --auth--> SASL --success--> STREAM_START        (the stream restarts)
             SASL --auth--> SASL                              (another mechanism)
             SASL --register--> REGISTER_FORM --submit--> REGISTER_SUBMIT --auth--> SASL
    FEATURES --resume--> SM_RESUME --online--> ONLINE
                         SM_RESUME --bind--> BIND            (resumption refused)
    FEATURES --bind--> BIND --bind--> BIND                    (server picks the resource)
             BIND --session--> LEGACY_SESSION --enable|online--> SM_ENABLE | ONLINE
             BIND --enable--> SM_ENABLE --online--> ONLINE
             BIND --online--> ONLINE
    any but DISCONNECTED, CLOSING --close--> CLOSING          (our </stream:stream>)
    any but DISCONNECTED --end--> DISCONNECTED                (closed, lost, failed)
"""

from __future__ import annotations

from enum import Enum, auto

from stanzalink import ns
from stanzalink.errors import LocalProtocolError

_Q = ns.q


class State(Enum):
    DISCONNECTED = auto()
    STREAM_START = auto()  # our header sent, waiting for theirs
    FEATURES = auto()  # waiting for <stream:features>
    STARTTLS = auto()  # <starttls/> sent
    TLS_HANDSHAKE = auto()  # <proceed/> received; the adapter runs the handshake
    SASL = auto()  # <auth/> sent
    REGISTER_FORM = auto()  # XEP-0077 get sent
    REGISTER_SUBMIT = auto()  # XEP-0077 set sent
    BIND = auto()
    LEGACY_SESSION = auto()
    SM_RESUME = auto()
    SM_ENABLE = auto()
    ONLINE = auto()
    CLOSING = auto()  # our </stream:stream> sent, waiting for theirs


_S = State
_ROWS: tuple[tuple[State, str, State], ...] = (
    # from               step        to
    (_S.DISCONNECTED,   "connect",  _S.STREAM_START),  # transport up, our header sent
    (_S.STREAM_START,   "header",   _S.FEATURES),  # their header checked
    (_S.FEATURES,       "starttls", _S.STARTTLS),
    (_S.FEATURES,       "auth",     _S.SASL),
    (_S.FEATURES,       "resume",   _S.SM_RESUME),
    (_S.FEATURES,       "bind",     _S.BIND),
    (_S.STARTTLS,       "proceed",  _S.TLS_HANDSHAKE),
    (_S.TLS_HANDSHAKE,  "tls",      _S.STREAM_START),  # handshake done, new header sent
    (_S.SASL,           "auth",     _S.SASL),  # the next mechanism, or the password
    (_S.SASL,           "success",  _S.STREAM_START),  # new header sent
    (_S.SASL,           "register", _S.REGISTER_FORM),
    (_S.REGISTER_FORM,  "submit",   _S.REGISTER_SUBMIT),
    (_S.REGISTER_SUBMIT, "auth",    _S.SASL),
    (_S.BIND,           "bind",     _S.BIND),  # our resource refused: ask for one
    (_S.BIND,           "session",  _S.LEGACY_SESSION),
    (_S.BIND,           "enable",   _S.SM_ENABLE),
    (_S.BIND,           "online",   _S.ONLINE),
    (_S.LEGACY_SESSION, "enable",   _S.SM_ENABLE),
    (_S.LEGACY_SESSION, "online",   _S.ONLINE),
    (_S.SM_RESUME,      "online",   _S.ONLINE),
    (_S.SM_RESUME,      "bind",     _S.BIND),
    (_S.SM_ENABLE,      "online",   _S.ONLINE),
    *((s, "close", _S.CLOSING) for s in State if s not in (_S.DISCONNECTED, _S.CLOSING)),
    *((s, "end", _S.DISCONNECTED) for s in State if s is not _S.DISCONNECTED),
)  # fmt: skip

STEPS: dict[tuple[State, str], State] = {(a, step): b for a, step, b in _ROWS}
assert len(STEPS) == len(_ROWS), "one row per state and step"
del _ROWS  # (the table is STEPS; the rows would only hold memory)


def advance(state: State, step: str) -> State:
    """The state that ``step`` leads to from ``state``; a step the table
    does not allow there is a local bug."""
    try:
        return STEPS[(state, step)]
    except KeyError:
        raise LocalProtocolError(f"{step} in state {state.name}") from None


STANZA_TAGS = frozenset(_Q(ns.CLIENT, t) for t in ("message", "presence", "iq"))

_IQ = _Q(ns.CLIENT, "iq")
_SM_R, _SM_A = _Q(ns.SM, "r"), _Q(ns.SM, "a")
_SM_FAILED = _Q(ns.SM, "failed")

ACCEPTS: dict[State, frozenset[str]] = {
    _S.DISCONNECTED: frozenset(),
    _S.STREAM_START: frozenset({"open"}),
    _S.FEATURES: frozenset({_Q(ns.STREAM, "features")}),
    _S.STARTTLS: frozenset({_Q(ns.TLS, "proceed"), _Q(ns.TLS, "failure")}),
    _S.TLS_HANDSHAKE: frozenset(),
    _S.SASL: frozenset({_Q(ns.SASL, t) for t in ("challenge", "success", "failure")}),
    _S.REGISTER_FORM: frozenset({_IQ}),
    _S.REGISTER_SUBMIT: frozenset({_IQ}),
    _S.BIND: frozenset({_IQ}),
    _S.LEGACY_SESSION: frozenset({_IQ}),
    _S.SM_RESUME: frozenset({_Q(ns.SM, "resumed"), _SM_FAILED}),
    # stanzas may arrive between <enable/> and <enabled/>
    _S.SM_ENABLE: frozenset({_Q(ns.SM, "enabled"), _SM_FAILED, "stanza", _SM_R}),
    _S.ONLINE: frozenset({"stanza", _SM_R, _SM_A}),
    _S.CLOSING: frozenset({"stanza", _SM_A, _SM_R}),
}

# states in which stanzas count as stanzas (not as negotiation elements)
STANZA_STATES = frozenset({_S.ONLINE, _S.SM_ENABLE, _S.CLOSING})

# states in which the stream may restart (TLS, SASL): feed one event at a time
NEGOTIATING = frozenset(
    {
        _S.STREAM_START,
        _S.FEATURES,
        _S.STARTTLS,
        _S.SASL,
        _S.REGISTER_FORM,
        _S.REGISTER_SUBMIT,
    }
)
