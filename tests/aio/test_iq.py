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


def test_the_iq_names_import_from_the_client_module_as_before() -> None:
    """:mod:`stanzalink.aio.iq` loads with the client's first IQ; its names
    are still importable from the client module, the same objects."""
    from stanzalink.aio import client, iq

    assert client.IQError is iq.IQError
    assert client.PasswordChangeRefused is iq.PasswordChangeRefused
    assert client.IQHandler is iq.IQHandler


def test_a_client_makes_its_iq_state_when_first_needed_and_keeps_it() -> None:
    from stanzalink.aio.client import Client, ClientConfig
    from stanzalink.aio.iq import IQServer, IQWaiters

    c = Client(ClientConfig(jid=JID.parse("device1@example.net"), password="pw"))
    assert c._iq_waiting is None and c._iq_serving is None
    waiters, server = c._iq_waiters, c._iq_server
    assert isinstance(waiters, IQWaiters) and isinstance(server, IQServer)
    assert c._iq_waiters is waiters and c._iq_server is server
