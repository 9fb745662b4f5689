"""XEP-0260 negotiation between two in-process peers over loopback: each
side's transport-info goes straight to the other (what a Jingle session
would carry), the SOCKS5 connections are real."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

import pytest

from stanzalink.errors import StanzaError
from stanzalink.net.s5b import Socks5Dialer
from stanzalink.net.socks5 import StreamHostServer
from stanzalink.xep.bytestreams import S5BPolicy, StreamHost
from stanzalink.xep.jingle import s5b as j
from stanzalink.xep.jingle.s5b_negotiation import S5BFailed, S5BNegotiation
from stanzalink.xml import Element, tostring
from stanzalink_testing.harness import parse_stanza
from stanzalink_testing.prosody import free_port

ROMEO, JULIET = "romeo@montague.lit/orchard", "juliet@capulet.lit/balcony"


def reparse(el: ET.Element) -> Element:
    """Through the wire format, as the peer would receive it."""
    iq = parse_stanza("<iq type='set' id='t'>" + tostring(el).decode() + "</iq>")
    return next(iter(iq))


class Pair:
    """Two LAN peers (each dials the other's direct candidates)."""

    def __init__(
        self, activation: list[ET.Element] | None = None, proxies: tuple[StreamHost, ...] = ()
    ) -> None:
        self.log: list[tuple[str, str]] = []
        self.activation = activation if activation is not None else []
        self.a_srv, self.b_srv = StreamHostServer(), StreamHostServer()

        async def iq(stanza: ET.Element, timeout: float | None = None) -> Element:
            self.activation.append(stanza)
            raise StanzaError("item-not-found")  # no real proxy here

        def sender(name: str, to: list[S5BNegotiation]) -> object:
            async def send(el: ET.Element) -> None:
                self.log.append((name, next(iter(el)).tag.split("}")[1]))
                to[0].on_transport_info(reparse(el))

            return send

        self._a: list[S5BNegotiation] = []
        self._b: list[S5BNegotiation] = []
        self.a = S5BNegotiation(sid="vj3hs98y", me=ROMEO, peer=JULIET, initiator=True,
                                send_info=sender("a", self._b), iq=iq,  # type: ignore[arg-type]
                                listener=self.a_srv,
                                connect_timeout=2, io=Socks5Dialer(),
                                policy=S5BPolicy(dial_direct=True, proxies=proxies))  # fmt: skip
        self.b = S5BNegotiation(sid="vj3hs98y", me=JULIET, peer=ROMEO, initiator=False,
                                send_info=sender("b", self._a), iq=iq,  # type: ignore[arg-type]
                                listener=self.b_srv,
                                connect_timeout=2, io=Socks5Dialer(),
                                policy=S5BPolicy(dial_direct=True, proxies=proxies))  # fmt: skip
        self._a.append(self.a)
        self._b.append(self.b)

    async def start(self) -> tuple[tuple[str, int], tuple[str, int]]:
        return await self.a_srv.start(), await self.b_srv.start()

    async def close(self) -> None:
        await self.a_srv.close()
        await self.b_srv.close()


async def test_both_direct_same_priority_the_initiators_choice_wins() -> None:
    p = Pair()
    a_addr, b_addr = await p.start()
    offer = p.a.local_transport(direct=[a_addr])
    answer = p.b.local_transport(direct=[b_addr])
    p.b.remote_transport(reparse(offer))
    p.a.remote_transport(reparse(answer))
    sa, sb = await asyncio.gather(p.a.established(10), p.b.established(10))
    # §2.4 rule 4: the initiator used the responder's candidate: that one
    assert p.a.nominated is not None and p.a.nominated.candidate == p.b.ours[0]
    assert p.b.nominated is not None and p.b.nominated.ours
    await sa.write(b"romeo to juliet")
    assert await sb.readexactly(15) == b"romeo to juliet"
    await sb.write(b"and back")
    assert await sa.readexactly(8) == b"and back"
    assert sorted(p.log) == [("a", "candidate-used"), ("b", "candidate-used")]
    await sa.close()
    await sb.close()
    await p.close()


async def test_one_side_unreachable_the_other_candidate_is_used() -> None:
    p = Pair()
    a_addr, _ = await p.start()
    offer = p.a.local_transport(direct=[a_addr])
    # juliet is behind NAT: her candidate's address does not answer
    dead = ("127.0.0.1", free_port())
    answer = p.b.local_transport(direct=[dead])
    p.b.remote_transport(reparse(offer))
    p.a.remote_transport(reparse(answer))
    sa, sb = await asyncio.gather(p.a.established(10), p.b.established(10))
    assert p.a.nominated == j.Nominated(p.a.ours[0], ours=True)
    await sb.write(b"x" * 1000)
    assert await sa.readexactly(1000) == b"x" * 1000
    assert sorted(p.log) == [("a", "candidate-error"), ("b", "candidate-used")]
    await sa.close()
    await sb.close()
    await p.close()


async def test_nothing_works_both_fail_for_fallback() -> None:
    p = Pair()
    await p.start()
    offer = p.a.local_transport(direct=[("127.0.0.1", free_port())])
    answer = p.b.local_transport(direct=[("127.0.0.1", free_port())])
    p.b.remote_transport(reparse(offer))
    p.a.remote_transport(reparse(answer))
    results = await asyncio.gather(p.a.established(10), p.b.established(10),
                                   return_exceptions=True)  # fmt: skip
    assert all(isinstance(r, S5BFailed) and r.reason == "candidate-error" for r in results)
    await p.close()


async def test_failed_proxy_activation_is_a_proxy_error_on_both_sides() -> None:
    """The initiator's proxy is the only candidate; the responder reaches
    it, but the initiator cannot activate it: proxy-error, both fail."""
    activation: list[ET.Element] = []
    # a stand-in "proxy": a streamhost that accepts the hash once (so the
    # initiator's own connection is refused) -- the XMPP activation fails too
    proxy = StreamHostServer()
    host, port = await proxy.start()
    p = Pair(activation, (StreamHost("proxy.lit", host, port),))
    await p.start()
    offer = p.a.local_transport(proxies=[StreamHost("proxy.lit", host, port)])
    assert reparse(offer).get("dstaddr") == j.candidate_dst("vj3hs98y", ROMEO, JULIET)
    proxy.expect(p.a.dst_ours)
    answer = p.b.local_transport()
    p.b.remote_transport(reparse(offer))
    p.a.remote_transport(reparse(answer))
    ra, rb = await asyncio.gather(p.a.established(10), p.b.established(10),
                                  return_exceptions=True)  # fmt: skip
    assert isinstance(ra, S5BFailed) and ra.reason == "proxy-error"
    assert isinstance(rb, S5BFailed) and rb.reason == "proxy-error"
    assert ("a", "proxy-error") in p.log and ("b", "candidate-used") in p.log
    await proxy.close()
    await p.close()


async def test_signals_that_do_not_fit_are_refused() -> None:
    p = Pair()
    await p.start()
    p.a.local_transport(direct=[("127.0.0.1", 1)])
    with pytest.raises(StanzaError) as info:
        p.a.on_transport_info(reparse(j.candidate_used("vj3hs98y", "not-ours")))
    assert info.value.condition == "item-not-found"
    with pytest.raises(StanzaError):
        p.a.on_transport_info(reparse(j.candidate_error("other-sid")))
    await p.a.close()
    await p.close()


def test_only_known_proxies_are_dialled_at_their_own_address() -> None:
    """By default a negotiation dials none of the peer's direct, assisted or
    tunnel candidates, no proxy it does not know, and a proxy it knows at the
    address the proxy gave (the peer's host/port for it is ignored)."""

    async def nothing(*_a: object) -> None:
        return None

    known = StreamHost("proxy.lit", "192.0.2.7", 7777)
    neg = S5BNegotiation(sid="vj3hs98y", me=JULIET, peer=ROMEO, initiator=False,
                         send_info=nothing, iq=nothing,  # type: ignore[arg-type]
                         io=Socks5Dialer(), policy=S5BPolicy(proxies=[known]))  # fmt: skip
    cands = [
        j.Candidate("d", "10.0.0.1", 22, ROMEO, j.priority("direct"), "direct"),
        j.Candidate("a", "10.0.0.1", 22, ROMEO, j.priority("assisted"), "assisted"),
        j.Candidate("t", "10.0.0.1", 22, ROMEO, j.priority("tunnel"), "tunnel"),
        j.Candidate("x", "10.0.0.1", 22, "evil.lit", j.priority("proxy"), "proxy"),
        j.Candidate("p", "10.0.0.1", 22, "proxy.lit", j.priority("proxy"), "proxy"),
    ]
    got = neg.dialable(cands)
    assert [(c.cid, c.host, c.port) for c in got] == [("p", "192.0.2.7", 7777)]
    lan = S5BNegotiation(sid="vj3hs98y", me=JULIET, peer=ROMEO, initiator=False,
                         send_info=nothing, iq=nothing,  # type: ignore[arg-type]
                         io=Socks5Dialer(), policy=S5BPolicy(dial_direct=True))  # fmt: skip
    assert [c.cid for c in lan.dialable(cands)] == ["d", "a", "t"]


async def test_a_full_listener_drops_the_direct_candidate_instead_of_raising() -> None:
    """StreamHostServer.expect raises once max_expected hashes are awaited;
    local_transport let that RuntimeError out (a session-accept never sent,
    a traceback per session).  The direct candidate is left out then."""

    async def nothing(*_a: object) -> None:
        return None

    srv = StreamHostServer(max_expected=1)
    addr = await srv.start()
    negs = []
    for i in range(2):
        negs.append(S5BNegotiation(sid=f"s{i}", me=JULIET, peer=ROMEO, initiator=False,
                                   send_info=nothing, iq=nothing,  # type: ignore[arg-type]
                                   io=Socks5Dialer(), policy=S5BPolicy(),
                                   listener=srv))  # fmt: skip
    proxy = StreamHost("proxy.lit", "127.0.0.1", 7777)
    first = reparse(negs[0].local_transport([proxy], [addr]))
    second = reparse(negs[1].local_transport([proxy], [addr]))
    assert [c.get("type") for c in first] == ["direct", "proxy"]
    assert [c.get("type") for c in second] == ["proxy"]
    for n in negs:
        await n.close()
    await srv.close()
