"""The audit trail of the commands: every command, from the chat console
and from ad-hoc commands alike, with who sent it, the role, the result and
the command line (arguments included, control characters escaped, cut at
200 characters), to the ``stanzalink.audit`` logger and, with
``[console] audit_log``, to that file (one line each, UTC timestamp)::

    alice@example.net/laptop role=admin result=ok command='reboot'
    alice@example.net/laptop role=admin result=ok command='ping host=x' (ad-hoc)

Results: ok, error, denied (the role is too low), unknown, asked (a
question before it runs), declined, cancelled, refused (came too late).
"""

from __future__ import annotations

import logging
import time

from stanzalink.access import Role
from stanzalink.commands.model import QUOTED
from stanzalink.jid import JID
from stanzalink.logsafe import escape_controls

log = logging.getLogger(__name__)
audit_log = logging.getLogger("stanzalink.audit")


def cut(text: str, limit: int = QUOTED) -> str:
    """``text`` cut at ``limit`` characters."""
    return text if len(text) <= limit else text[:limit] + "…"


def line(who: JID | str, role: Role | None, command: str, result: str, detail: str = "") -> str:
    """The one audit line (both front ends write this)."""
    # repr() quotes the command and escapes what is not printable in it
    rec = f"{who} role={role or '-'} result={result} command={cut(command)!r}"
    if detail:
        rec += f" ({escape_controls(cut(detail))})"
    return rec


def record(
    who: JID | str,
    role: Role | None,
    command: str,
    result: str,
    detail: str = "",
    file: str | None = None,
) -> None:
    """Record one command and its result."""
    rec = line(who, role, command, result, detail)
    audit_log.info("%s", rec)
    if file:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        try:
            with open(file, "a", encoding="utf-8") as fh:
                # the file is not a log handler's: escaped here like one
                fh.write(f"{stamp} {escape_controls(rec)}\n")
        except OSError as exc:
            log.error("cannot write the audit log %s: %s", file, exc)
