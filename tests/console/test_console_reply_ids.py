"""Every console answer has an id of its own and names the message it
answers (XEP-0461 <reply/>), so a controller that pipelines commands
without threads can still tell which answer is whose."""

from __future__ import annotations

from stanzalink.console.reply import REPLY
from tests.console.conftest import ALICE, Chat, body


def command(c: Chat, text: str, msg_id: str | None) -> None:
    id_attr = f" id='{msg_id}'" if msg_id is not None else ""
    c.h.receive(
        f"<message from='{ALICE}' to='device1@example.net/agent' type='chat'{id_attr}>"
        f"<body>{text}</body></message>"
    )


async def test_answers_carry_an_id_and_the_id_they_answer() -> None:
    c = Chat()
    command(c, "version", "q1")
    banner, answer = await c.reply(), await c.reply()
    command(c, "nosuchcommand", "q2")
    unknown = await c.reply()
    ids = [m.get("id") for m in (banner, answer, unknown)]
    assert all(ids) and len(set(ids)) == 3, ids
    for msg, ref in ((banner, "q1"), (answer, "q1"), (unknown, "q2")):
        reply = msg.find(f"{{{REPLY}}}reply")
        assert reply is not None, msg
        assert reply.attrib == {"to": ALICE, "id": ref}
    assert "Unknown command" in body(unknown)
    assert REPLY in c.console.disco_features
    await c.close()


async def test_no_reference_when_the_command_had_no_id() -> None:
    c = Chat()
    command(c, "version", None)
    for msg in (await c.reply(), await c.reply()):
        assert msg.get("id")
        assert msg.find(f"{{{REPLY}}}reply") is None
    await c.close()
