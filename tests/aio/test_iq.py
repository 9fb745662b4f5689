"""Who may answer the client's IQ requests."""

from __future__ import annotations

from stanzalink.aio.iq import answer_from
from stanzalink.jid import JID

OWN = JID.parse("device1@example.net/agent")


def test_a_request_to_the_server_is_answered_by_it_or_for_the_account() -> None:
    for sender in (None, "example.net", "device1@example.net", "device1@example.net/agent"):
        assert answer_from(sender, None, OWN), sender
        assert answer_from(sender, OWN.bare, OWN), sender
    for sender in ("evil.example", "device1@example.net/other", "a@example.net", "@@"):
        assert not answer_from(sender, None, OWN), sender


def test_a_request_to_someone_else_is_answered_by_that_jid_only() -> None:
    to = JID.parse("ctl@example.net/laptop")
    assert answer_from("ctl@example.net/laptop", to, OWN)
    for sender in (None, "example.net", "ctl@example.net", "device1@example.net", "@@"):
        assert not answer_from(sender, to, OWN), sender
