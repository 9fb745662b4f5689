"""XEP-0199 between a controller and the device, and the agent's gate."""

from __future__ import annotations

import pytest

from stanzalink.xep.ping import Ping
from stanzalink_testing.harness import Harness

ACCESS = {"viewer": ["alice@example.net"]}


async def test_controller_ping_is_answered() -> None:
    # XEP-0199 example 5 and 6, addressed to the device
    h = Harness([Ping], ACCESS)
    h.receive(
        "<iq from='alice@example.net/laptop' to='device1@example.net/agent' id='c2s1'"
        " type='get'><ping xmlns='urn:xmpp:ping'/></iq>"
    )
    reply = await h.next_sent()
    assert h.sent_xml[0] == '<iq type="result" id="c2s1" to="alice@example.net/laptop"/>'
    assert len(reply) == 0
    await h.close()


@pytest.mark.parametrize(
    "sender", ["eve@example.net/x", "device1@example.net/other", "example.net", None]
)
async def test_strangers_learn_nothing(sender: str | None) -> None:
    h = Harness([Ping], ACCESS)
    frm = f" from='{sender}'" if sender else ""
    h.receive(f"<iq{frm} id='p1' type='get'><ping xmlns='urn:xmpp:ping'/></iq>")
    denied = await h.next_sent()
    h.receive(f"<iq{frm} id='p2' type='get'><nothing xmlns='urn:example:none'/></iq>")
    unknown = await h.next_sent()
    # a served payload and an unknown one are refused alike
    assert denied.get("type") == unknown.get("type") == "error"
    assert h.sent_xml[0].replace("p1", "p2") == h.sent_xml[1]
    assert "service-unavailable" in h.sent_xml[0]
    await h.close()
