"""XEP-0260 transport elements, DST.ADDR and nomination, with the XEP's examples."""

from __future__ import annotations

import pytest

from stanzalink.errors import StanzaError
from stanzalink.xep.jingle import s5b as j
from stanzalink.xml import Element, tostring
from stanzalink_testing.harness import parse_stanza

ROMEO, JULIET = "romeo@montague.lit/orchard", "juliet@capulet.lit/balcony"

# XEP-0260 example 1 (session-initiate), the transport only
INITIATE = """<iq from='romeo@montague.lit/orchard' id='xn28s7gk' to='juliet@capulet.lit/balcony'
    type='set'>
  <jingle xmlns='urn:xmpp:jingle:1' action='session-initiate'
          initiator='romeo@montague.lit/orchard' sid='a73sjjvkla37jfea'>
    <content creator='initiator' name='ex'>
      <description xmlns='urn:xmpp:example'/>
      <transport xmlns='urn:xmpp:jingle:transports:s5b:1'
                 dstaddr='972b7bf47291ca609517f67f86b5081086052dad' mode='tcp' sid='vj3hs98y'>
        <candidate cid='hft54dqy' host='192.168.4.1' jid='romeo@montague.lit/orchard'
                   port='5086' priority='8257636' type='direct'/>
        <candidate cid='hutr46fe' host='24.24.24.1' jid='romeo@montague.lit/orchard'
                   port='5087' priority='8258636' type='direct'/>
        <candidate cid='xmdh4b7i' host='123.456.7.8' jid='streamer.shakespeare.lit'
                   port='7625' priority='7878787' type='proxy'/>
      </transport>
    </content>
  </jingle>
</iq>"""


def transport_of(iq_xml: str) -> Element:
    iq = parse_stanza(iq_xml)
    el = iq.find(
        "{urn:xmpp:jingle:1}jingle/{urn:xmpp:jingle:1}content/{urn:xmpp:jingle:transports:s5b:1}transport"
    )
    assert el is not None
    return el


def info(payload: str) -> str:
    """A transport-info as in XEP-0260 examples 5, 7, 10 and 11."""
    return (
        "<iq from='juliet@capulet.lit/balcony' id='gft65ewd' to='romeo@montague.lit/orchard'"
        " type='set'><jingle xmlns='urn:xmpp:jingle:1' action='transport-info'"
        " initiator='romeo@montague.lit/orchard' sid='a73sjjvkla37jfea'>"
        "<content creator='initiator' name='ex'><transport"
        f" xmlns='urn:xmpp:jingle:transports:s5b:1' sid='vj3hs98y'>{payload}</transport>"
        "</content></jingle></iq>"
    )


def test_dstaddr_of_the_xep_examples() -> None:
    # §2.2: the initiator's proxy candidates, then the responder's
    assert j.candidate_dst("vj3hs98y", ROMEO, JULIET) == "972b7bf47291ca609517f67f86b5081086052dad"
    assert j.candidate_dst("vj3hs98y", JULIET, ROMEO) == "1a12fb7bc625e55f3ed5b29a53dbe0e4aa7d80ba"


def test_parse_the_session_initiate_transport() -> None:
    t = j.parse_transport(transport_of(INITIATE))
    assert (t.sid, t.mode, t.signal) == ("vj3hs98y", "tcp", None)
    assert t.dstaddr == j.candidate_dst(t.sid, ROMEO, JULIET)
    assert [c.cid for c in t.candidates] == ["hft54dqy", "hutr46fe", "xmdh4b7i"]
    proxy = t.candidates[2]
    assert (proxy.type, proxy.jid, proxy.port, proxy.priority) == (
        "proxy", "streamer.shakespeare.lit", 7625, 7878787
    )  # fmt: skip
    # §4: highest priority first
    assert [c.cid for c in j.by_priority(t.candidates)] == ["hutr46fe", "hft54dqy", "xmdh4b7i"]


def test_priority_formula() -> None:
    # §2.1: 2^16 * type preference + local preference; example 1's 8257636 is direct/100
    assert j.priority("direct", 100) == 8257636
    assert j.priority("proxy") == 10 << 16
    assert j.priority("assisted") > j.priority("tunnel") > j.priority("proxy")
    with pytest.raises(ValueError):
        j.priority("direct", 70000)


def test_build_round_trip() -> None:
    cands = [
        j.Candidate("c1", "127.0.0.1", 5086, ROMEO, j.priority("direct"), "direct"),
        j.Candidate("c2", "127.0.0.1", 7777, "proxy.lit", j.priority("proxy"), "proxy"),
    ]
    el = j.transport("vj3hs98y", cands[::-1], j.candidate_dst("vj3hs98y", ROMEO, JULIET), "tcp")
    text = tostring(el).decode()
    assert text.startswith(
        '<transport xmlns="urn:xmpp:jingle:transports:s5b:1" sid="vj3hs98y"'
        ' dstaddr="972b7bf47291ca609517f67f86b5081086052dad" mode="tcp">'
        '<candidate cid="c1" host="127.0.0.1" jid="romeo@montague.lit/orchard" port="5086"'
        ' priority="8257536" type="direct"/>'
    )
    wrapped = parse_stanza(
        "<iq type='set' id='1'><jingle xmlns='urn:xmpp:jingle:1'><content>"
        + text
        + "</content></jingle></iq>"
    )
    t = j.parse_transport(
        wrapped.find(
            "{urn:xmpp:jingle:1}jingle/{urn:xmpp:jingle:1}content/{urn:xmpp:jingle:transports:s5b:1}transport"
        )  # type: ignore[arg-type]
    )
    assert t.candidates == tuple(cands)
    proxy = j.Candidate.from_streamhost(cands[1].streamhost)
    assert (proxy.type, proxy.host, proxy.port, proxy.priority) == (
        "proxy", "127.0.0.1", 7777, 10 << 16
    )  # fmt: skip


@pytest.mark.parametrize(
    ("payload", "signal", "cid", "built"),
    [
        ("<candidate-used cid='hr65dqyd'/>", "candidate-used", "hr65dqyd",
         j.candidate_used("vj3hs98y", "hr65dqyd")),
        ("<candidate-error/>", "candidate-error", None, j.candidate_error("vj3hs98y")),
        ("<activated cid='xmdh4b7i'/>", "activated", "xmdh4b7i",
         j.activated("vj3hs98y", "xmdh4b7i")),
        ("<proxy-error/>", "proxy-error", None, j.proxy_error("vj3hs98y")),
    ],
)  # fmt: skip
def test_signals_of_the_xep(payload: str, signal: str, cid: str | None, built: object) -> None:
    t = j.parse_transport(transport_of(info(payload)))
    assert (t.sid, t.signal, t.cid, t.candidates) == ("vj3hs98y", signal, cid, ())
    expected = (
        '<transport xmlns="urn:xmpp:jingle:transports:s5b:1" sid="vj3hs98y">'
        + payload.replace("'", '"')
        + "</transport>"
    )
    assert tostring(built).decode() == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "payload",
    [
        "<candidate host='1.2.3.4' jid='a@b/c' port='1' priority='1'/>",  # no cid
        "<candidate cid='x' host='1.2.3.4' jid='a@b/c' port='1'/>",  # no priority
        "<candidate cid='x' host='1.2.3.4' jid='a@b/c' port='1' priority='-3'/>",
        "<candidate cid='x' host='1.2.3.4' jid='a@b/c' port='1' priority='1' type='udp'/>",
        "<candidate cid='x' host='1.2.3.4' jid='a@b/c' priority='1'/>",  # nowhere to connect
        "<candidate cid='x' host='1.2.3.4' jid='a@b/c' port='1' priority='1'/>" * 2,  # same cid
        "<candidate-used/>",
        "<candidate-error/><proxy-error/>",
        "<candidate-error/><candidate cid='x' host='1.2.3.4' jid='a@b/c' port='1' priority='1'/>",
        # digits str.isdigit() takes and int() does not: ValueError, not bad-request
        "<candidate cid='x' host='1.2.3.4' jid='a@b/c' port='1' priority='\u00b2'/>",
        "<candidate cid='x' host='1.2.3.4' jid='a@b/c' port='\u00b9' priority='1'/>",
        "<candidate cid='x' host='1.2.3.4' jid='a@b/c' port='1' priority='" + "9" * 5000 + "'/>",
        "<candidate cid='x' host='1.2.3.4' jid='a@b/c' port='" + "9" * 5000 + "' priority='1'/>",
    ],
)
def test_malformed_transports_are_bad_requests(payload: str) -> None:
    with pytest.raises(StanzaError) as err:
        j.parse_transport(transport_of(info(payload)))
    assert err.value.condition == "bad-request"


def cand(cid: str, prio: int, ctype: str = "direct") -> j.Candidate:
    return j.Candidate(cid, "127.0.0.1", 1, "x@y/z", prio, ctype)


def test_nomination_rules() -> None:
    ours = [cand("o1", 100), cand("o2", 50, "proxy")]
    theirs = [cand("t1", 100), cand("t2", 70)]
    # 1: both failed -> fall back
    assert j.nominate(ours, theirs, None, None, initiator=True) is None
    # 2: one failed -> the other's choice
    assert j.nominate(ours, theirs, None, "o2", initiator=True) == j.Nominated(ours[1], ours=True)
    assert j.nominate(ours, theirs, "t2", None, initiator=False) == j.Nominated(theirs[1], False)
    # 3: higher priority wins
    assert j.nominate(ours, theirs, "t2", "o2", initiator=False) == j.Nominated(theirs[1], False)
    assert j.nominate(ours, theirs, "t2", "o1", initiator=True) == j.Nominated(ours[0], True)
    # 4: same priority -> the initiator's choice (what the initiator connected to)
    assert j.nominate(ours, theirs, "t1", "o1", initiator=True) == j.Nominated(theirs[0], False)
    assert j.nominate(ours, theirs, "t1", "o1", initiator=False) == j.Nominated(ours[0], True)
    with pytest.raises(StanzaError):
        j.nominate(ours, theirs, "nope", None, initiator=True)
