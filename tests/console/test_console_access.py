"""Who the console answers: nobody but controllers, each within its role,
and only on the outer ``from`` of a message."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tests.console.conftest import VICTOR, Chat
from tests.util import python_cmd


def reboot_probe(tmp_path: Path) -> tuple[Path, list[str]]:
    marker = tmp_path / "rebooted"
    return marker, [*python_cmd(), "-c", f"open({str(marker)!r}, 'w').write('x')"]


@pytest.mark.parametrize(
    "sender",
    ["eve@example.net/x", "device1@example.net/other", "example.net", "alice@example.org/x"],
)
async def test_a_stranger_gets_nothing_and_nothing_runs(sender: str, tmp_path: Path) -> None:
    marker, argv = reboot_probe(tmp_path)
    c = Chat(reboot_command=argv)
    for line in ("help", "status", "reboot", "yes", "stauts"):
        c.send(line, sender)
    await c.silent()
    assert not marker.exists()
    assert c.console.sessions == {}
    await c.close()


async def test_a_viewer_cannot_run_an_admin_command(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker, argv = reboot_probe(tmp_path)
    audit = tmp_path / "audit.log"
    c = Chat(reboot_command=argv, audit_log=str(audit))
    caplog.set_level(logging.INFO, logger="stanzalink.audit")
    await c.greet(VICTOR)
    denied = await c.ask("reboot", VICTOR)
    unknown = await c.ask("rebooz", VICTOR)
    # a controller is told which role the command needs
    assert denied == "reboot: needs role admin (you are viewer)"
    assert unknown == "Unknown command 'rebooz'. Send `help` for the list."
    assert "reboot" not in (await c.ask("help", VICTOR))
    assert await c.ask("yes", VICTOR) == "Nothing to confirm."
    await asyncio.sleep(0.2)
    assert not marker.exists()
    lines = audit.read_text().splitlines()
    assert any(
        "victor@example.net/phone role=viewer result=denied command='reboot' (needs admin)" in ln
        for ln in lines
    )
    assert any("result=unknown command='rebooz'" in ln for ln in lines)
    assert "result=denied" in caplog.text
    await c.close()


async def test_spoofed_senders_run_nothing(tmp_path: Path) -> None:
    marker, argv = reboot_probe(tmp_path)
    c = Chat(reboot_command=argv)
    inner = (
        "<forwarded xmlns='urn:xmpp:forward:0'>"
        "<message xmlns='jabber:client' from='alice@example.net/laptop' "
        "to='device1@example.net/agent' type='chat'><body>reboot</body></message>"
        "</forwarded>"
    )
    # a carbon copy: from the device's own account, claiming the admin inside
    c.h.receive(
        "<message from='device1@example.net' to='device1@example.net/agent' type='chat'>"
        f"<received xmlns='urn:xmpp:carbons:2'>{inner}</received></message>"
    )
    # a stranger forwarding the admin's message
    c.h.receive(
        f"<message from='eve@example.net/x' to='device1@example.net/agent' type='chat'>"
        f"<body>reboot</body>{inner}</message>"
    )
    # a viewer forwarding it: the outer sender counts, the inner body is not read
    c.h.receive(
        f"<message from='{VICTOR}' to='device1@example.net/agent' type='chat'>{inner}</message>"
    )
    await c.silent()
    # the viewer's own body would be their own command, in their own role
    c.h.receive(
        f"<message from='{VICTOR}' to='device1@example.net/agent' type='chat'>"
        f"<body>reboot</body>{inner}</message>"
    )
    await c.text()  # banner
    assert await c.text() == "reboot: needs role admin (you are viewer)"
    c.send("yes", "alice@example.net/laptop")  # the admin never asked: nothing to confirm
    await c.text()
    assert await c.text() == "Nothing to confirm."
    await asyncio.sleep(0.2)
    assert not marker.exists()
    await c.close()


async def test_incoming_xhtml_is_not_read() -> None:
    c = Chat()
    await c.greet()
    c.h.receive(
        "<message from='alice@example.net/laptop' type='chat'><body>version</body>"
        "<html xmlns='http://jabber.org/protocol/xhtml-im'>"
        "<body xmlns='http://www.w3.org/1999/xhtml'><p>reboot</p></body></html></message>"
    )
    assert "stanzalink: " in await c.text()
    await c.close()
