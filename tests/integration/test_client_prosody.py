"""The device client against a real Prosody on loopback, with slixmpp as
the controller on the other end."""

from __future__ import annotations

import asyncio
import itertools
import stat
from pathlib import Path
from typing import Any

import pytest
import slixmpp

from stanzalink.aio.client import Client
from stanzalink.jid import JID
from stanzalink.session import keystore
from stanzalink.session.events import Authenticated, Registered
from stanzalink.xml import E, Element
from stanzalink_testing.prosody import Prosody

from .peers import client_config, login, login_refused, new_account, slix_client, until

_new = itertools.count(1)


def test_login_messages_both_ways_and_iq(prosody: Prosody, account: tuple[str, str]) -> None:
    device_jid, device_pw = account
    ctl_jid = f"ctl{next(_new)}@{prosody.domain}"
    prosody.register(ctl_jid.split("@")[0], "ctl-password")

    async def main() -> None:
        events: list[object] = []
        got: asyncio.Queue[Element] = asyncio.Queue()
        client = Client(client_config(prosody, device_jid, device_pw))
        client.on_event(events.append)
        client.on_message(got.put_nowait)
        await client.start()
        jid = await client.wait_online(30)
        assert jid == JID.parse(device_jid + "/agent")
        auth = [e for e in events if isinstance(e, Authenticated)]
        assert auth and auth[0].mechanism.startswith("SCRAM-SHA-1")
        assert client.session.sm.enabled and client.session.sm.resumable

        ctl = await slix_client(prosody, ctl_jid, "ctl-password")
        replies: asyncio.Queue[Any] = asyncio.Queue()
        ctl.add_event_handler("message", replies.put_nowait)
        ctl.send_message(mto=str(jid), mbody="status please", mtype="chat")
        msg = await asyncio.wait_for(got.get(), 20)
        assert msg.findtext("{jabber:client}body") == "status please"
        assert JID.parse(msg.get("from")).bare == JID.parse(ctl_jid)

        client.send(
            E("{jabber:client}message", {"to": msg.get("from"), "type": "chat"},
              E("{jabber:client}body", text="all good \u2713 <ok> & fine"))
        )  # fmt: skip
        reply = await asyncio.wait_for(replies.get(), 20)
        assert reply["body"] == "all good \u2713 <ok> & fine"

        # an IQ to the server, matched on id, sender and type
        pong = await client.iq(
            E("{jabber:client}iq", {"type": "get", "to": prosody.domain}, E("{urn:xmpp:ping}ping"))
        )
        assert pong.get("type") == "result"
        # an IQ nobody serves on the device is answered with service-unavailable
        ver = ctl.make_iq_get(queryxmlns="jabber:iq:nonexistent", ito=str(jid))
        with pytest.raises(slixmpp.exceptions.IqError) as info:
            await ver.send(timeout=20)
        assert info.value.condition == "service-unavailable"
        # the server acknowledged everything the device sent
        await asyncio.sleep(2.5)
        assert len(client.session.sm.unacked) == 0
        ctl.disconnect()
        await client.close()

    asyncio.run(main())


def test_in_band_registration(prosody: Prosody) -> None:
    jid = f"newdevice{next(_new)}@{prosody.domain}"

    async def main() -> None:
        client, events = await login(client_config(prosody, jid, "fresh-password-1", register=True))
        assert Registered(jid.split("@")[0]) in events
        await client.close()
        # and the account is real: log in again without registering
        again, _ = await login(client_config(prosody, jid, "fresh-password-1"))
        await again.close()

    asyncio.run(main())


def test_wrong_password_is_a_clear_error(prosody: Prosody, account: tuple[str, str]) -> None:
    jid, _ = account

    async def main() -> None:
        error = await login_refused(Client(client_config(prosody, jid, "not-the-password")))
        assert "not-authorized" in error

    asyncio.run(main())


def test_direct_tls(prosody: Prosody, account: tuple[str, str]) -> None:
    jid, pw = account

    async def main() -> None:
        client, _ = await login(
            client_config(prosody, jid, pw, port=prosody.tls_port, direct_tls=True)
        )
        assert client.session.tls is not None and client.session.tls.version.startswith("TLS")
        await client.close()

    asyncio.run(main())


def test_certificate_for_another_name_is_refused(
    prosody: Prosody, account: tuple[str, str]
) -> None:
    """wrong.test presents the certificate of stanzalink.test: the TLS
    handshake fails on the name, before any credential is sent."""
    jid, pw = account
    other = JID.parse(jid)

    async def main() -> None:
        cfg = client_config(prosody, jid, pw)
        cfg.jid = JID(other.local, "wrong.test")
        client = Client(cfg)
        error = await login_refused(client, 20)
        assert "certificate" in error.lower() or "hostname" in error.lower()
        assert client.session.authenticated is False

    asyncio.run(main())


def test_change_password_in_band(prosody: Prosody, account: tuple[str, str]) -> None:
    """XEP-0077 §3.3: the server takes the new password; the same client's
    reconnect logs in with it, a fresh login with the old one is refused."""
    jid, old = account

    async def main() -> None:
        client, events = await login(
            client_config(prosody, jid, old, reconnect=True, backoff_base=0.2)
        )
        await client.change_password("brand-new-pw-\u00e9")
        assert client.config.password == "brand-new-pw-\u00e9"
        # cut the connection: the reconnect authenticates with the new password
        proto = client._proto
        assert proto is not None and proto.transport is not None
        proto.transport.abort()
        await until(
            lambda: sum(isinstance(e, Authenticated) for e in events) >= 2,
            "the login with the new password",
            30,
        )
        await client.wait_online(30)
        await client.close()

        await login_refused(Client(client_config(prosody, jid, old)))
        fresh, _ = await login(client_config(prosody, jid, "brand-new-pw-\u00e9"))
        await fresh.close()

    asyncio.run(main())


def test_scram_keys_replace_the_password(
    prosody: Prosody, account: tuple[str, str], tmp_path: Path
) -> None:
    """The first login stores SCRAM-SHA-1's keys (0600); a device that then
    keeps only the keys file logs in again, the server's signature checked."""
    jid, pw = account
    keys_file = tmp_path / "scram.json"

    async def main() -> None:
        first, _ = await login(client_config(prosody, jid, pw, scram_keys_file=str(keys_file)))
        await first.close()
        assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
        stored = keystore.load(keys_file, jid)
        assert list(stored) == ["SCRAM-SHA-1"] and stored["SCRAM-SHA-1"].iterations >= 4096

        cfg = client_config(prosody, jid, "unused", scram_keys_file=str(keys_file))
        cfg.password = None
        second, events = await login(cfg)
        assert next(e for e in events if isinstance(e, Authenticated)).mechanism == "SCRAM-SHA-1"
        await second.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("tls_max", "allowed", "expected"),
    [
        # TLS 1.2: Prosody adds SCRAM-SHA-1-PLUS (tls-unique), the strongest
        ("TLSv1.2", None, ("SCRAM-SHA-1-PLUS", "p=tls-unique")),
        ("TLSv1.2", {"SCRAM-SHA-1"}, ("SCRAM-SHA-1", "n")),
        ("TLSv1.2", {"PLAIN"}, ("PLAIN", "")),
        # TLS 1.3: no -PLUS offered although the client could bind: flag y
        (None, None, ("SCRAM-SHA-1", "y")),
        (None, {"PLAIN"}, ("PLAIN", "")),
    ],
)
def test_sasl_matrix(
    prosody: Prosody,
    account: tuple[str, str],
    tls_max: str | None,
    allowed: set[str] | None,
    expected: tuple[str, str],
) -> None:
    jid, pw = account

    async def main() -> None:
        cfg = client_config(
            prosody,
            jid,
            pw,
            tls_max_version=tls_max,
            sasl_mechanisms=frozenset(allowed) if allowed else None,
        )
        client, events = await login(cfg)
        assert client.session.tls is not None
        assert client.session.tls.version == (tls_max or "TLSv1.3")
        auth = next(e for e in events if isinstance(e, Authenticated))
        assert (auth.mechanism, auth.gs2_flag) == expected
        await client.close()

    asyncio.run(main())


def test_a_burst_of_sends_shares_one_write_and_all_arrive(
    prosody: Prosody, account: tuple[str, str]
) -> None:
    """Stanzas sent in one go leave in one transport write (one TLS record),
    at the loop's next turn; the peer gets every one, in order."""
    device_jid, device_pw = account
    ctl_jid, ctl_pw = new_account(prosody, "ctl")

    async def main() -> None:
        client = Client(client_config(prosody, device_jid, device_pw))
        await client.start()
        await client.wait_online(30)
        ctl = await slix_client(prosody, ctl_jid, ctl_pw)
        bodies: list[str] = []
        all_in = asyncio.get_running_loop().create_future()

        def on_message(msg: Any) -> None:
            bodies.append(str(msg["body"]))
            if len(bodies) == 50 and not all_in.done():
                all_in.set_result(None)

        ctl.add_event_handler("message", on_message)
        assert client._proto is not None and client._proto.transport is not None
        transport = client._proto.transport
        writes: list[bytes] = []
        real_write = transport.write

        def counting_write(data: Any) -> None:
            writes.append(bytes(data))
            real_write(data)

        transport.write = counting_write  # type: ignore[method-assign]
        try:
            for i in range(50):
                client.send(
                    E(
                        "{jabber:client}message",
                        {"to": ctl_jid + "/ctl", "type": "chat"},
                        E("{jabber:client}body", text=f"b{i}"),
                    )
                )
            assert writes == []  # nothing written yet: the loop has not turned
            await asyncio.sleep(0)
            assert len(writes) == 1 and writes[0].count(b"<message") == 50
            await asyncio.wait_for(all_in, 20)
        finally:
            transport.write = real_write  # type: ignore[method-assign]
        assert bodies == [f"b{i}" for i in range(50)]
        ctl.disconnect()
        await client.close()

    asyncio.run(main())
