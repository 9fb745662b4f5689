"""The console's audit trail: every command line with who sent it, the
role, and the result, to the ``stanzalink.audit`` logger and, with
``[console] audit_log``, to that file (one line each, UTC timestamp)."""

from __future__ import annotations

import logging
import time

from stanzalink.access import Role
from stanzalink.commands.model import QUOTED
from stanzalink.jid import JID
from stanzalink.logsafe import escape_controls

log = logging.getLogger(__name__)
audit_log = logging.getLogger("stanzalink.audit")


def record(
    who: JID, role: Role | None, line: str, result: str, detail: str = "", file: str | None = None
) -> None:
    """Record one command line and its result (ok, error, denied, unknown,
    asked, declined, cancelled, refused)."""
    shown = line if len(line) <= QUOTED else line[:QUOTED] + "…"
    rec = f"{who} role={role or '-'} result={result} command={shown!r}"
    if detail:
        rec += f" ({detail})"
    audit_log.info("%s", rec)
    if file:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        try:
            with open(file, "a", encoding="utf-8") as fh:
                # the file is not a log handler's: escaped here like one
                fh.write(f"{stamp} {escape_controls(rec)}\n")
        except OSError as exc:
            log.error("cannot write the audit log %s: %s", file, exc)
