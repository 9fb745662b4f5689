"""What a peer supplies cannot forge a line of the agent's log: the handlers
``stanzalink run`` installs (stderr, syslog) escape control characters."""

from __future__ import annotations

import io
import logging
import socket
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

from stanzalink.cli import run_log_handler
from stanzalink.logsafe import SafeFormatter, escape_controls
from stanzalink.xep.ping import Ping
from stanzalink_testing.harness import Harness

# what a stranger puts in the resource of its ``from``: a line break, then a
# record of its own, an 8-bit CSI (clear screen) and a Unicode line separator
FORGED_XML = "&#13;&#10;2026-12-05 00:00:00,000 CRITICAL stanzalink: forged&#x9b;2J&#x2028;more"
FORGED = "\r\n2026-12-05 00:00:00,000 CRITICAL stanzalink: forged\x9b2J\u2028more"
SHOWN = "\\r\\n2026-12-05 00:00:00,000 CRITICAL stanzalink: forged\\x9b2J\\u2028more"


def test_every_control_and_line_breaking_character_is_escaped() -> None:
    escaped = [
        *range(0x00, 0x20),
        0x7F,
        *range(0x80, 0xA0),
        0x2028,
        0x2029,
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    ]
    for cp in escaped:
        out = escape_controls(f"a{chr(cp)}b")
        assert out.isascii() and out.isprintable() and out.startswith("a\\"), (hex(cp), out)
    assert escape_controls("\r\n\t\x1b[31m\x7f\x85\u2028\u202e") == (
        "\\r\\n\\t\\x1b[31m\\x7f\\x85\\u2028\\u202e"
    )
    # nothing else in the BMP is touched: letters, marks, symbols, spaces
    others = "".join(
        chr(cp)
        for cp in range(0x20, 0x10000)
        if cp not in escaped and unicodedata.category(chr(cp)) not in ("Cs",)
    )
    assert escape_controls(others) == others
    assert escape_controls("a\nb\rc", keep_newlines=True) == "a\nb\\rc"


@pytest.fixture
def agent_log() -> Iterator[io.StringIO]:
    """The stderr handler of ``stanzalink run``, writing into a buffer."""
    handler, failed = run_log_handler(None)
    assert failed is None and isinstance(handler, logging.StreamHandler)
    out = io.StringIO()
    handler.setStream(out)
    logger = logging.getLogger("stanzalink")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_a_denied_jid_cannot_forge_log_lines(agent_log: io.StringIO) -> None:
    h = Harness([Ping], {"admin": ["alice@example.net"]})
    h.receive(f"<message from='eve@example.net/x{FORGED_XML}'><body>hi</body></message>")
    h.receive(
        f"<iq type='get' id='p1' from='mallory@example.net/y{FORGED_XML}'>"
        "<ping xmlns='urn:xmpp:ping'/></iq>"
    )
    reply = await h.next_sent()
    assert reply.get("type") == "error"
    await h.close()
    lines = agent_log.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].endswith(
        f"WARNING stanzalink.access: denied message to eve@example.net/x{SHOWN}: not a controller"
    )
    assert f"denied get {{urn:xmpp:ping}}ping to mallory@example.net/y{SHOWN}" in lines[1]
    # and nothing else a viewer would take for a line break
    assert all(ln.isprintable() for ln in lines)


def test_a_traceback_keeps_its_lines_but_not_the_peers(agent_log: io.StringIO) -> None:
    log = logging.getLogger("stanzalink.test")
    try:
        try:
            raise KeyError(f"inner{FORGED}")
        except KeyError as exc:
            exc.add_note(f"note{FORGED}")
            raise ValueError(f"outer{FORGED}") from exc
    except ValueError:
        log.exception("handling %s failed", f"node{FORGED}")
    text = agent_log.getvalue()
    lines = text.splitlines()
    assert lines[0].endswith(f"ERROR stanzalink.test: handling node{SHOWN} failed")
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[2].startswith("  File ") and lines[2].endswith(
        "in test_a_traceback_keeps_its_lines_but_not_the_peers"
    )
    assert f"KeyError: 'inner{SHOWN}'" in lines
    assert f"note{SHOWN}" in lines
    assert f"ValueError: outer{SHOWN}" in lines
    assert "The above exception was the direct cause of the following exception:" in lines
    assert not any(ln.startswith("2026-12-05 00:00:00") for ln in lines)  # no line of its own
    # another handler's formatter may have cached the unescaped traceback
    record = logging.LogRecord("stanzalink", logging.ERROR, __file__, 1, "x", None, None)
    try:
        raise RuntimeError(FORGED)
    except RuntimeError:
        record.exc_info = sys.exc_info()
    logging.Formatter().format(record)
    assert record.exc_text is not None and FORGED in record.exc_text
    assert f"RuntimeError: {SHOWN}" in SafeFormatter().format(record).splitlines()
    assert record.exc_text is not None and FORGED in record.exc_text  # its cache untouched


def test_syslog_gets_one_line(tmp_path: Path) -> None:
    path = str(tmp_path / "log.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(10)
        handler, failed = run_log_handler(path)
        assert failed is None and not isinstance(handler, logging.StreamHandler)
        try:
            record = logging.LogRecord(
                "stanzalink.access",
                logging.WARNING,
                __file__,
                1,
                "denied %s to %s: not a controller",
                ("message", f"eve@example.net/x{FORGED}"),
                None,
            )
            handler.handle(record)
            datagram = sock.recv(65536).decode()
        finally:
            handler.close()
    body = datagram.removesuffix("\x00")
    assert body.isprintable(), body
    assert body.endswith(f"denied message to eve@example.net/x{SHOWN}: not a controller")
