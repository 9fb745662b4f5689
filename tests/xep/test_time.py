"""XEP-0202 between a controller and the device (the XEP's example 1 and 2)."""

from __future__ import annotations

import datetime as dt

from stanzalink.xep.time import Time, tzo
from stanzalink_testing.harness import Harness


async def test_time_answer_is_the_xeps_example() -> None:
    h = Harness([Time], {"viewer": ["romeo@montague.net"]})
    tz = dt.timezone(dt.timedelta(hours=-6))
    h.feature(Time).clock = lambda: dt.datetime(2006, 12, 19, 11, 58, 35, 123456, tz)
    h.receive(
        "<iq type='get' from='romeo@montague.net/orchard' to='juliet@capulet.com/balcony'"
        " id='time_1'><time xmlns='urn:xmpp:time'/></iq>"
    )
    await h.next_sent()
    assert h.sent_xml[-1] == (
        '<iq type="result" id="time_1" to="romeo@montague.net/orchard">'
        '<time xmlns="urn:xmpp:time"><tzo>-06:00</tzo><utc>2006-12-19T17:58:35Z</utc></time></iq>'
    )
    await h.close()


async def test_real_clock_and_stranger() -> None:
    h = Harness([Time], {"viewer": ["romeo@montague.net"]})
    h.receive(
        "<iq type='get' from='romeo@montague.net/o' id='t'><time xmlns='urn:xmpp:time'/></iq>"
    )
    reply = await h.next_sent()
    utc = reply.findtext("{urn:xmpp:time}time/{urn:xmpp:time}utc")
    assert utc is not None
    got = dt.datetime.fromisoformat(utc.replace("Z", "+00:00"))
    assert abs((got - dt.datetime.now(dt.UTC)).total_seconds()) < 5
    h.receive("<iq type='get' from='eve@x.net/o' id='t2'><time xmlns='urn:xmpp:time'/></iq>")
    await h.next_sent()
    assert "service-unavailable" in h.sent_xml[-1]
    await h.close()


def test_tzo() -> None:
    assert tzo(dt.timedelta(0)) == "+00:00"
    assert tzo(dt.timedelta(hours=5, minutes=30)) == "+05:30"
    assert tzo(dt.timedelta(hours=-3, minutes=-30)) == "-03:30"
    assert tzo(None) == "+00:00"
