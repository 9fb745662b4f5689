"""The device client against a real ejabberd 23.01 on loopback (the second
server), with slixmpp as the controller.  One ejabberd for the whole run
(the session fixture in conftest.py).

ejabberd offers SCRAM-SHA-512/256/1, each with -PLUS (tls-unique only), and
PLAIN after TLS; no XEP-0440 list, so on TLS 1.3 the client never binds
(tls-unique is undefined there) and says so with the GS2 flag ``n``.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest

from stanzalink.aio.client import Client, ClientConfig
from stanzalink.jid import JID
from stanzalink.session import keystore
from stanzalink.session.events import Authenticated, Online, Registered
from stanzalink.xml import E, Element
from stanzalink_testing.ejabberd import SCRAM_HOST, Ejabberd, client_cert

from .peers import client_config, login, login_refused, new_account, slix_client, until

_new = itertools.count(1)


@pytest.fixture
def account(ejabberd: Ejabberd) -> tuple[str, str]:
    return new_account(ejabberd, "ej", "pw-{user}-secret")


def _auth(events: list[object]) -> Authenticated:
    auth = [e for e in events if isinstance(e, Authenticated)]
    assert len(auth) == 1, events
    return auth[0]


MECHANISMS = [
    "SCRAM-SHA-512-PLUS",
    "SCRAM-SHA-256-PLUS",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-512",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1",
    "PLAIN",
]


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_each_mechanism_on_tls12(
    ejabberd: Ejabberd, account: tuple[str, str], mechanism: str
) -> None:
    """TLS capped at 1.2: every mechanism logs in; -PLUS binds with
    tls-unique; plain SCRAM says ``n`` (the client was told not to bind)."""
    jid, pw = account

    async def main() -> None:
        cfg = client_config(
            ejabberd, jid, pw, tls_max_version="TLSv1.2", sasl_mechanisms=frozenset({mechanism})
        )
        client, events = await login(cfg)
        assert client.session.tls is not None and client.session.tls.version == "TLSv1.2"
        auth = _auth(events)
        assert auth.mechanism == mechanism
        if mechanism.endswith("-PLUS"):
            assert auth.gs2_flag == "p=tls-unique"
        elif mechanism.startswith("SCRAM"):
            assert auth.gs2_flag == "n"
        await client.close()

    asyncio.run(main())


def test_strongest_wins_on_tls12(ejabberd: Ejabberd, account: tuple[str, str]) -> None:
    jid, pw = account

    async def main() -> None:
        client, events = await login(client_config(ejabberd, jid, pw, tls_max_version="TLSv1.2"))
        auth = _auth(events)
        assert (auth.mechanism, auth.gs2_flag) == ("SCRAM-SHA-512-PLUS", "p=tls-unique")
        await client.close()

    asyncio.run(main())


def test_tls13_never_uses_tls_unique(ejabberd: Ejabberd, account: tuple[str, str]) -> None:
    """On TLS 1.3 the server still offers -PLUS (tls-unique only): the client
    takes the strongest plain SCRAM with flag ``n``, and the server accepts
    it; a client allowed only -PLUS refuses to log in, naming why."""
    jid, pw = account

    async def main() -> None:
        client, events = await login(client_config(ejabberd, jid, pw))
        assert client.session.tls is not None and client.session.tls.version == "TLSv1.3"
        auth = _auth(events)
        assert (auth.mechanism, auth.gs2_flag) == ("SCRAM-SHA-512", "n")
        await client.close()

        only_plus = client_config(
            ejabberd, jid, pw, sasl_mechanisms=frozenset({"SCRAM-SHA-256-PLUS"})
        )
        refused = Client(only_plus)
        error = await login_refused(refused)
        assert "no mechanism in common" in error
        assert refused.session.authenticated is False

    asyncio.run(main())


def test_plain_is_refused_without_tls(ejabberd: Ejabberd, account: tuple[str, str]) -> None:
    """A listener without TLS offers PLAIN: a client allowed to run without
    TLS still never sends PLAIN there; SCRAM works."""
    jid, pw = account
    assert ejabberd.plain_port is not None

    async def main() -> None:
        cfg = client_config(
            ejabberd,
            jid,
            pw,
            port=ejabberd.plain_port,
            require_tls=False,
            sasl_mechanisms=frozenset({"PLAIN"}),
        )
        client = Client(cfg)
        error = await login_refused(client)
        assert "in the clear" in error
        assert client.session.authenticated is False

        scram, events = await login(
            client_config(ejabberd, jid, pw, port=ejabberd.plain_port, require_tls=False)
        )
        assert scram.session.tls is None
        assert _auth(events).mechanism == "SCRAM-SHA-512"
        await scram.close()

        # and with TLS required (the default) that listener is refused outright
        error = await login_refused(
            Client(client_config(ejabberd, jid, pw, port=ejabberd.plain_port))
        )
        assert "STARTTLS" in error

    asyncio.run(main())


def test_direct_tls(ejabberd: Ejabberd, account: tuple[str, str]) -> None:
    jid, pw = account

    async def main() -> None:
        client, events = await login(
            client_config(ejabberd, jid, pw, port=ejabberd.tls_port, direct_tls=True)
        )
        assert client.session.tls is not None
        assert _auth(events).mechanism.startswith("SCRAM-SHA-512")
        await client.close()

    asyncio.run(main())


def test_wrong_password_is_a_clear_error(ejabberd: Ejabberd, account: tuple[str, str]) -> None:
    jid, _ = account

    async def main() -> None:
        error = await login_refused(Client(client_config(ejabberd, jid, "not-the-password")))
        assert "not-authorized" in error

    asyncio.run(main())


def test_in_band_registration(ejabberd: Ejabberd) -> None:
    jid = f"ejnew{next(_new)}@{ejabberd.domain}"

    async def main() -> None:
        client, events = await login(client_config(ejabberd, jid, "fresh-pw-1", register=True))
        assert Registered(jid.split("@")[0]) in events
        await client.close()
        again, _ = await login(client_config(ejabberd, jid, "fresh-pw-1"))
        await again.close()
        assert ejabberd.check_password(jid.split("@")[0], "fresh-pw-1")

    asyncio.run(main())


def test_messages_both_ways_and_resumption_after_a_cut(
    ejabberd: Ejabberd, account: tuple[str, str]
) -> None:
    """slixmpp and the device exchange messages; the device's TCP connection
    is cut; messages sent meanwhile arrive once, after the stream-management
    resumption, in both directions."""
    device_jid, device_pw = account
    ctl_user = f"ctl{next(_new)}"
    ejabberd.register(ctl_user, "ctl-password")
    ctl_jid = f"{ctl_user}@{ejabberd.domain}"

    async def main() -> None:
        events: list[object] = []
        got: asyncio.Queue[Element] = asyncio.Queue()
        cfg = client_config(ejabberd, device_jid, device_pw, reconnect=True, backoff_base=0.2)
        client = Client(cfg)
        client.on_event(events.append)
        client.on_message(got.put_nowait)
        await client.start()
        jid = await client.wait_online(30)
        assert client.session.sm.enabled and client.session.sm.resumable

        ctl = await slix_client(ejabberd, ctl_jid, "ctl-password")
        replies: asyncio.Queue[Any] = asyncio.Queue()
        ctl.add_event_handler("message", replies.put_nowait)
        ctl.send_message(mto=str(jid), mbody="before the cut", mtype="chat")
        msg = await asyncio.wait_for(got.get(), 20)
        assert msg.findtext("{jabber:client}body") == "before the cut"
        client.send(
            E("{jabber:client}message", {"to": msg.get("from"), "type": "chat"},
              E("{jabber:client}body", text="answer \u2713 <1>"))
        )  # fmt: skip
        assert (await asyncio.wait_for(replies.get(), 20))["body"] == "answer \u2713 <1>"

        # cut the device's connection without a goodbye
        proto = client._proto
        assert proto is not None and proto.transport is not None
        proto.transport.abort()
        await asyncio.sleep(0.05)
        # sent by the device while it is offline: queued, resent after resumption
        client.send(
            E("{jabber:client}message", {"to": msg.get("from"), "type": "chat"},
              E("{jabber:client}body", text="during the cut"))
        )  # fmt: skip
        ctl.send_message(mto=str(jid), mbody="while you were away", mtype="chat")

        await until(
            lambda: any(isinstance(e, Online) and e.resumed for e in events), "the resumption", 30
        )
        msg2 = await asyncio.wait_for(got.get(), 20)
        assert msg2.findtext("{jabber:client}body") == "while you were away"
        assert (await asyncio.wait_for(replies.get(), 20))["body"] == "during the cut"
        await asyncio.sleep(1.0)
        assert got.empty() and replies.empty()  # nothing twice
        ctl.disconnect()
        await client.close()

    asyncio.run(main())


def test_change_password_in_band(ejabberd: Ejabberd, account: tuple[str, str]) -> None:
    """XEP-0077 §3.3 through mod_register; the reconnect uses the new
    password (after a cut, SCRAM again, then resumption)."""
    jid, old = account
    user = jid.split("@")[0]

    async def main() -> None:
        cfg = client_config(ejabberd, jid, old, reconnect=True, backoff_base=0.2)
        client, events = await login(cfg)
        await client.change_password("ej-new-pw-\u00e9")
        assert client.config.password == "ej-new-pw-\u00e9"
        proto = client._proto
        assert proto is not None and proto.transport is not None
        proto.transport.abort()
        await until(
            lambda: any(isinstance(e, Online) and e.resumed for e in events), "the resumption", 30
        )
        assert sum(isinstance(e, Authenticated) for e in events) == 2
        await client.close()

    asyncio.run(main())
    assert ejabberd.check_password(user, "ej-new-pw-\u00e9")
    assert not ejabberd.check_password(user, old)


def test_scram_keys_on_both_storages(
    ejabberd: Ejabberd, account: tuple[str, str], tmp_path: Path
) -> None:
    """Accounts stored as SCRAM hashes keep their salt: the keys learned at
    one login serve alone at the next.  Accounts stored in plain get a fresh
    salt at every login, so keys alone are a clear error there, while keys
    plus the password simply relearn."""
    jid, pw = account
    user = f"ejs{next(_new)}"
    ejabberd.register(user, "scram-stored-pw", host=SCRAM_HOST)
    scram_jid = f"{user}@{SCRAM_HOST}"

    async def main() -> None:
        keys_file = tmp_path / "scram.json"
        first, events = await login(
            client_config(ejabberd, scram_jid, "scram-stored-pw", scram_keys_file=str(keys_file))
        )
        await first.close()
        # only SCRAM-SHA-1 exists for SHA-1-hashed storage; TLS 1.3, so no -PLUS
        assert _auth(events).mechanism == "SCRAM-SHA-1"
        assert list(keystore.load(keys_file, scram_jid)) == ["SCRAM-SHA-1"]
        cfg = client_config(ejabberd, scram_jid, "unused", scram_keys_file=str(keys_file))
        cfg.password = None
        second, events = await login(cfg)
        assert _auth(events).mechanism == "SCRAM-SHA-1"
        await second.close()

        plain_file = tmp_path / "plain.json"
        third, _ = await login(client_config(ejabberd, jid, pw, scram_keys_file=str(plain_file)))
        await third.close()
        learned = keystore.load(plain_file, jid)["SCRAM-SHA-512"]
        cfg = client_config(ejabberd, jid, "unused", scram_keys_file=str(plain_file))
        cfg.password = None
        error = await login_refused(Client(cfg))
        assert "another salt" in error and "no password" in error
        both, _ = await login(client_config(ejabberd, jid, pw, scram_keys_file=str(plain_file)))
        await both.close()
        assert keystore.load(plain_file, jid)["SCRAM-SHA-512"].salt != learned.salt

    asyncio.run(main())


def test_scram_hashed_storage_offers_only_sha1(ejabberd: Ejabberd) -> None:
    """Debian's default storage (SCRAM-SHA-1 hashes): SHA-256/512 are not
    offered; on TLS 1.2 the strongest is SCRAM-SHA-1-PLUS with tls-unique."""
    user = f"ejs{next(_new)}"
    ejabberd.register(user, "pw-sha1-only", host=SCRAM_HOST)

    async def main() -> None:
        cfg = client_config(
            ejabberd, f"{user}@{SCRAM_HOST}", "pw-sha1-only", tls_max_version="TLSv1.2"
        )
        client, events = await login(cfg)
        assert (_auth(events).mechanism, _auth(events).gs2_flag) == (
            "SCRAM-SHA-1-PLUS",
            "p=tls-unique",
        )
        offered = set(client.session._offered_mechs)
        assert {"SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "PLAIN"} <= offered
        assert not offered & {"SCRAM-SHA-256", "SCRAM-SHA-512", "SCRAM-SHA-512-PLUS"}
        await client.close()

    asyncio.run(main())


def test_sasl_external_with_a_client_certificate(
    ejabberd: Ejabberd, account: tuple[str, str]
) -> None:
    """A listener that asks for client certificates offers EXTERNAL: the
    device logs in with its certificate alone (no password configured).  A
    certificate for another account: ejabberd authenticates the certificate's
    account and binds a resource of it; the device refuses that session."""
    jid, _ = account
    assert ejabberd.external_port is not None
    cert, key = client_cert(ejabberd.root, jid)

    def external(who: str) -> ClientConfig:
        """Direct TLS with the client certificate made for ``jid``, no password."""
        cfg = client_config(
            ejabberd,
            who,
            "unused",
            port=ejabberd.external_port,
            direct_tls=True,
            client_cert=str(cert),
            client_key=str(key),
        )
        cfg.password = None
        return cfg

    async def main() -> None:
        client, events = await login(external(jid))
        assert _auth(events).mechanism == "EXTERNAL"
        assert client.jid is not None and client.jid.bare == JID.parse(jid)
        await client.close()

        other = f"ejother{next(_new)}@{ejabberd.domain}"
        ejabberd.register(other.split("@")[0], "other-pw")
        refused = Client(external(other))
        error = await login_refused(refused)
        assert f"not a resource of {other}" in error
        assert refused.jid is None  # never online

    asyncio.run(main())
