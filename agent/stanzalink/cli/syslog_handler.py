"""The agent's log to a syslog socket (``stanzalink run --syslog``): apart
from :mod:`.run`, so that an agent logging to stderr never holds it."""

from __future__ import annotations

import logging
import logging.handlers  # it loads pickle, queue, socket
import os
import socket

from stanzalink.logsafe import SafeFormatter


def _unix_socket_refusal(path: str) -> OSError | None:
    """Why a syslog socket at ``path`` cannot be reached, or None."""
    refusal: OSError | None = None
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_UNIX, kind) as sock:
            try:
                sock.connect(path)
            except OSError as exc:
                refusal = refusal or exc
            else:
                return None
    return refusal


def syslog_handler(path: str) -> tuple[logging.Handler | None, OSError | None]:
    """A handler writing to the syslog socket at ``path`` (busybox syslogd
    writes /var/log/messages), or None with why that socket cannot be
    reached.  SysLogHandler itself ignores a socket it cannot reach (and
    then prints a traceback per record): it is tried here first."""
    failed = _unix_socket_refusal(path)
    if failed is not None:
        return None, failed
    handler = logging.handlers.SysLogHandler(
        address=path, facility=logging.handlers.SysLogHandler.LOG_DAEMON
    )
    # syslog adds the time; the tag and pid name the program
    handler.setFormatter(
        SafeFormatter(f"stanzalink[{os.getpid()}]: %(levelname)s %(name)s: %(message)s")
    )
    return handler, None
