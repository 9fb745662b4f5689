"""The ``[adhoc]`` section (XEP-0050 ad-hoc commands), apart from the
feature's code so that the agent checks a config file without importing
the feature (it loads on the first command request)."""

from __future__ import annotations

from stanzalink.config import Key, Section, count, positive

ADHOC = Section(
    "adhoc",
    {
        "max_sessions": Key(count, 64, "open multi-stage command sessions, all requesters"),
        "session_timeout": Key(positive, 600.0, "seconds a session may sit idle"),
        "reply_within": Key(positive, 20.0, "seconds before the answer says still running"),
    },
)
