"""XEP-0065 bytestreams through a real Prosody's mod_proxy65 on loopback:
two stanzalink clients (a controller as requester, the device as target)
discover the proxy, negotiate, activate, and move 10 MiB each way."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from stanzalink.aio.client import Client, ClientConfig, IQError
from stanzalink.net.socks5 import Socks5Error, Socks5Stream, connect, connect_first
from stanzalink.xep import bytestreams as s5b
from stanzalink.xep.bytestreams import Bytestreams
from stanzalink.xml import Element
from stanzalink_testing.prosody import Prosody

from .conftest import PROXY65 as PROXY
from .peers import client_config, device_config, slix_client

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def server(prosody_proxy65: tuple[Prosody, int]) -> tuple[Prosody, int]:
    """Prosody with proxy65 (tests/integration/conftest.py), component PROXY."""
    return prosody_proxy65


def config(p: Prosody, user: str, resource: str) -> ClientConfig:
    return client_config(p, f"{user}@{p.domain}", f"{user}-password", resource=resource)


@contextlib.asynccontextmanager
async def online_pair(p: Prosody) -> AsyncIterator[tuple[Client, Client]]:
    """(device, controller), both online (async tests here take no async fixtures)."""
    device, ctl = Client(config(p, "device1", "agent")), Client(config(p, "alice", "laptop"))
    await device.start()
    await ctl.start()
    await device.wait_online(30)
    await ctl.wait_online(30)
    try:
        yield device, ctl
    finally:
        await ctl.close()
        await device.close()


def serve_target(device: Client, streams: asyncio.Queue[Socks5Stream], wrong: bool = False) -> None:
    """The device as XEP-0065 target: connect to an offered streamhost,
    answer streamhost-used (``wrong``: with a DST.ADDR of another target)."""

    async def on_offer(iq: Element) -> object:
        offer = s5b.parse_offer(iq)
        requester = iq.get("from")
        assert device.jid is not None
        me = "someone@else.test/x" if wrong else str(device.jid)
        _used, stream = await connect_first(
            offer.streamhosts, s5b.dst_addr(offer.sid, requester, me), timeout=5
        )
        streams.put_nowait(stream)
        return s5b.streamhost_used(iq, offer.sid, _used.jid)

    device.on_iq(s5b.QUERY, on_offer, types=("set",))


async def negotiate(ctl: Client, device: Client, sid: str) -> tuple[s5b.StreamHost, Socks5Stream]:
    """The controller as requester: discover, offer, connect (not activated)."""
    assert ctl.jid is not None and device.jid is not None
    proxies = await s5b.discover_proxies(ctl.iq, ctl.jid.domain)
    assert [h.jid for h in proxies] == [PROXY]
    reply = await ctl.iq(s5b.offer(str(device.jid), sid, proxies), 20)
    used = s5b.parse_streamhost_used(reply, proxies)
    stream = await connect(
        used.host, used.port, s5b.dst_addr(sid, ctl.jid, device.jid), where=used.jid
    )
    return used, stream


async def send_and_close(stream: Socks5Stream, data: bytes, chunk: int = 64 * 1024) -> None:
    """Send ``data`` and close: the close is the end of the data.  Prosody
    0.12's proxy65 holds back the last bytes it read (up to 4 KiB, in
    LuaSocket's buffer) until more arrive or the sender closes; see
    docs/socks5.md."""
    view = memoryview(data)
    for i in range(0, len(data), chunk):
        await stream.write(view[i : i + chunk])
    await stream.close()


async def read_to_end(stream: Socks5Stream, limit: int) -> tuple[int, str]:
    """(byte count, SHA-256) of everything until end of stream."""
    h = hashlib.sha256()
    got = 0
    while block := await stream.read(256 * 1024):
        h.update(block)
        got += len(block)
        assert got <= limit, "more bytes than were sent"
    await stream.close()
    return got, h.hexdigest()


async def open_bytestream(
    ctl: Client, device: Client, streams: asyncio.Queue[Socks5Stream]
) -> tuple[s5b.StreamHost, Socks5Stream, Socks5Stream]:
    sid = "s5b-" + os.urandom(6).hex()
    used, ctl_stream = await negotiate(ctl, device, sid)
    dev_stream = await asyncio.wait_for(streams.get(), 10)
    await ctl.iq(s5b.activate(used.jid, sid, str(device.jid)), 20)
    return used, ctl_stream, dev_stream


async def test_discover_negotiate_activate_and_move_10_mib_both_ways(
    server: tuple[Prosody, int],
) -> None:
    async with online_pair(server[0]) as (device, ctl):
        await _transfer_10_mib_both_ways(device, ctl, server[1])


async def _transfer_10_mib_both_ways(device: Client, ctl: Client, proxy_port: int) -> None:
    streams: asyncio.Queue[Socks5Stream] = asyncio.Queue()
    serve_target(device, streams)
    # two bytestreams at once, one each way (a Jingle file transfer is one way)
    used, ctl_down, dev_down = await open_bytestream(ctl, device, streams)
    assert (used.host, used.port) == ("127.0.0.1", proxy_port)
    _, ctl_up, dev_up = await open_bytestream(ctl, device, streams)
    down, up = os.urandom(10 * MIB), os.urandom(10 * MIB)
    async with asyncio.timeout(120):
        _, _, got_down, got_up = await asyncio.gather(
            send_and_close(ctl_down, down), send_and_close(dev_up, up),
            read_to_end(dev_down, len(down)), read_to_end(ctl_up, len(up)),
        )  # fmt: skip
    assert got_down == (len(down), hashlib.sha256(down).hexdigest())
    assert got_up == (len(up), hashlib.sha256(up).hexdigest())


async def test_wrong_dst_hash_is_refused_at_activation(server: tuple[Prosody, int]) -> None:
    """The target hashed another JID: the proxy finds no pair of
    connections under the requester's hash and refuses to activate."""
    async with online_pair(server[0]) as (device, ctl):
        await _wrong_hash(device, ctl)


async def _wrong_hash(device: Client, ctl: Client) -> None:
    streams: asyncio.Queue[Socks5Stream] = asyncio.Queue()
    serve_target(device, streams, wrong=True)
    sid = "s5b-" + os.urandom(6).hex()
    used, ctl_stream = await negotiate(ctl, device, sid)
    dev_stream = await asyncio.wait_for(streams.get(), 10)
    with pytest.raises(IQError) as info:
        await ctl.iq(s5b.activate(used.jid, sid, str(device.jid)), 20)
    # mod_proxy65 knows only the requester under its hash: "you are not connected"
    assert info.value.condition == "not-allowed"
    # nothing is relayed between the two unmatched connections
    await ctl_stream.write(b"hello")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(dev_stream.read(), 1.0)
    await ctl_stream.close()
    await dev_stream.close()


async def test_activation_of_an_unknown_stream_is_item_not_found(
    server: tuple[Prosody, int],
) -> None:
    async with online_pair(server[0]) as (device, ctl):
        with pytest.raises(IQError) as info:
            await ctl.iq(s5b.activate(PROXY, "never-connected", str(device.jid)), 20)
    assert info.value.condition == "item-not-found"


async def test_malformed_dst_addr_is_refused_by_the_proxy(server: tuple[Prosody, int]) -> None:
    _, port = server
    with pytest.raises(Socks5Error) as info:
        await connect("127.0.0.1", port, "not-a-sha1-hash", timeout=5, where=PROXY)
    assert info.value.where == PROXY
    assert "CONNECT refused: general SOCKS server failure" in str(info.value)


# ---------------------------------------------------------------- slixmpp as the peer
async def slixmpp_peer(p: Prosody, user: str) -> Any:
    plugins = ("xep_0030", ("xep_0065", {"auto_accept": True}))
    return await slix_client(p, f"{user}@{p.domain}", f"{user}-password", plugins)


def collect(xmpp: Any) -> tuple[hashlib._Hash, list[int], asyncio.Event]:
    """What slixmpp's xep_0065 receives, until the bytestream closes."""
    h, n, closed = hashlib.sha256(), [0], asyncio.Event()

    def data(block: bytes) -> None:
        h.update(block)
        n[0] += len(block)

    xmpp.add_event_handler("socks5_data", data)
    xmpp.add_event_handler("socks5_closed", lambda _exc: closed.set())
    return h, n, closed


async def test_slixmpp_requester_to_the_device_agent(server: tuple[Prosody, int]) -> None:
    """slixmpp's XEP-0065 plugin offers the proxy to the device's agent
    (the Bytestreams feature, operator access); data flows both ways."""
    from stanzalink.agent import Agent

    p, _ = server
    access = {"operator": [f"alice@{p.domain}"]}
    cfg = device_config(p, f"device1@{p.domain}", "device1-password", access)
    agent = Agent(cfg, features=[s5b.Bytestreams])
    streams: asyncio.Queue[Socks5Stream] = asyncio.Queue()

    async def listener(inc: s5b.Incoming) -> s5b.StreamHost:
        used, stream = await connect_first(inc.offer.streamhosts, inc.dst, timeout=5)
        streams.put_nowait(stream)
        return used

    agent.feature(Bytestreams).listen(listener)  # type: ignore[union-attr]
    await agent.client.start()
    device_jid = await agent.client.wait_online(30)
    xmpp = await slixmpp_peer(p, "alice")
    try:
        h, n, closed = collect(xmpp)
        conn = await asyncio.wait_for(xmpp.plugin["xep_0065"].handshake(str(device_jid)), 30)
        assert conn is not None, "slixmpp could not open the bytestream"
        dev = await asyncio.wait_for(streams.get(), 10)
        down, up = os.urandom(MIB), os.urandom(MIB)
        # the device sends first, then slixmpp; each direction ended by a close
        await dev.write(up)
        await dev.close()
        await asyncio.wait_for(closed.wait(), 30)
        assert (n[0], h.hexdigest()) == (len(up), hashlib.sha256(up).hexdigest())
        # and the other way, on a second bytestream
        conn2 = await asyncio.wait_for(xmpp.plugin["xep_0065"].handshake(str(device_jid)), 30)
        dev2 = await asyncio.wait_for(streams.get(), 10)
        await conn2.write(down)
        conn2.transport.close()
        assert await read_to_end(dev2, len(down)) == (len(down), hashlib.sha256(down).hexdigest())
    finally:
        xmpp.disconnect()
        await agent.client.close()


async def test_device_requester_to_slixmpp_target(server: tuple[Prosody, int]) -> None:
    """The stanzalink client offers the proxy to slixmpp's XEP-0065 plugin
    (auto_accept), activates, and sends 1 MiB."""
    p, _ = server
    device = Client(config(p, "device1", "agent"))
    await device.start()
    await device.wait_online(30)
    xmpp = await slixmpp_peer(p, "alice")
    try:
        h, n, closed = collect(xmpp)
        sid = "s5b-" + os.urandom(6).hex()
        assert device.jid is not None
        target = f"alice@{p.domain}/ctl"
        proxies = await s5b.discover_proxies(device.iq, p.domain)
        reply = await device.iq(s5b.offer(target, sid, proxies), 20)
        used = s5b.parse_streamhost_used(reply, proxies)
        stream = await connect(used.host, used.port, s5b.dst_addr(sid, device.jid, target))
        await device.iq(s5b.activate(used.jid, sid, target), 20)
        data = os.urandom(MIB)
        await send_and_close(stream, data)
        await asyncio.wait_for(closed.wait(), 30)
        assert (n[0], h.hexdigest()) == (len(data), hashlib.sha256(data).hexdigest())
    finally:
        xmpp.disconnect()
        await device.close()


# ---------------------------------------------------------------- XEP-0260 through proxy65
async def test_jingle_s5b_negotiation_through_the_proxy(server: tuple[Prosody, int]) -> None:
    """XEP-0260 with the initiator's proxy candidate only: the responder
    connects and sends candidate-used, the initiator connects, activates at
    Prosody's proxy (the transport sid, SHA1(sid + initiator + responder))
    and sends activated.  The transport-info signals are handed over in
    process (that is Jingle's part); proxy, SOCKS5 and activation are real."""
    from stanzalink.net.s5b import Socks5Dialer
    from stanzalink.xep.bytestreams import S5BPolicy
    from stanzalink.xep.jingle import s5b as j
    from stanzalink.xep.jingle.s5b_negotiation import S5BNegotiation
    from stanzalink.xml import tostring
    from stanzalink_testing.harness import parse_stanza

    def wire(el: Any) -> Element:
        return next(iter(parse_stanza("<iq type='set' id='w'>" + tostring(el).decode() + "</iq>")))

    p, _ = server
    async with online_pair(p) as (device, ctl):
        assert device.jid is not None and ctl.jid is not None
        sid = j.new_id()
        sides: dict[str, S5BNegotiation] = {}
        signals: list[tuple[str, str]] = []

        def to(name: str) -> Any:
            async def send(el: Any) -> None:
                signals.append((name, next(iter(el)).tag.split("}")[1]))
                sides["ctl" if name == "device" else "device"].on_transport_info(wire(el))

            return send

        proxies = await s5b.discover_proxies(device.iq, p.domain)
        sides["device"] = S5BNegotiation(
            sid=sid,
            me=str(device.jid),
            peer=str(ctl.jid),
            initiator=True,
            send_info=to("device"),
            iq=device.iq,
            io=Socks5Dialer(),
            policy=S5BPolicy(),
        )
        # the controller dials the proxy it found itself on the same server
        sides["ctl"] = S5BNegotiation(sid=sid, me=str(ctl.jid), peer=str(device.jid),
                                      initiator=False, send_info=to("ctl"), iq=ctl.iq,
                                      io=Socks5Dialer(),
                                      policy=S5BPolicy(proxies=proxies))  # fmt: skip
        offer = sides["device"].local_transport(proxies=proxies)
        answer = sides["ctl"].local_transport()
        sides["ctl"].remote_transport(wire(offer))
        sides["device"].remote_transport(wire(answer))
        dev, peer = await asyncio.gather(sides["device"].established(30),
                                         sides["ctl"].established(30))  # fmt: skip
        # the two reports in either order, then the activation
        assert sorted(signals[:2]) == [("ctl", "candidate-used"), ("device", "candidate-error")]
        assert signals[2:] == [("device", "activated")]
        data = os.urandom(MIB)
        _, got = await asyncio.gather(send_and_close(dev, data), read_to_end(peer, len(data)))
        assert got == (len(data), hashlib.sha256(data).hexdigest())
