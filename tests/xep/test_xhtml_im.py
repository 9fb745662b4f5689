"""XEP-0071 / XEP-0393 rendering: each kind of content as a plain body
that reads on its own and an XHTML-IM twin inside the recommended profile."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from stanzalink.xep import xhtml_im
from stanzalink.xep.xhtml_im import (
    NBSP,
    Code,
    Em,
    Fixed,
    Grid,
    Items,
    Pairs,
    Para,
    Strong,
    render,
    violations,
)
from stanzalink.xml import tostring

X = "{http://www.w3.org/1999/xhtml}"


def reparse(html: ET.Element) -> ET.Element:
    """Serialize as it goes on the wire and parse it back."""
    return ET.fromstring(tostring(html))


def text_of(el: ET.Element) -> str:
    return "".join(el.itertext())


def check(blocks: list[xhtml_im.Block]) -> tuple[str, ET.Element]:
    r = render(blocks)
    html = reparse(r.html)
    assert violations(html) == []
    assert html.tag == "{http://jabber.org/protocol/xhtml-im}html"
    (body,) = list(html)
    assert body.tag == X + "body"
    return r.body, body


def test_paragraph_with_emphasis_and_code() -> None:
    plain, body = check([Para(Strong("disk"), " is ", Em("almost"), " full: ", Code("/var"))])
    assert plain == "*disk* is _almost_ full: `/var`"
    (p,) = list(body)
    assert p.tag == X + "p"
    assert [c.tag for c in p] == [X + "strong", X + "em", X + "span"]
    assert p[2].get("style") == "font-family: monospace"
    assert text_of(p) == "disk is almost full: /var"


def test_styling_markers_only_where_xep_0393_allows_them() -> None:
    plain, _ = check([Para(Strong(" padded "), Em("a_b"), Code("x`y"), Strong("two\nlines"))])
    # no marker around leading/trailing spaces, a marker inside, or a line break
    assert plain == " padded a_bx`ytwo\nlines"


def test_line_breaks_become_br() -> None:
    plain, body = check([Para("one\ntwo")])
    assert plain == "one\ntwo"
    p = body[0]
    assert [c.tag for c in p] == [X + "br"]
    assert p.text == "one" and p[0].tail == "two"


@pytest.mark.parametrize("ordered", [False, True])
def test_lists(ordered: bool) -> None:
    plain, body = check([Items(["first", Para(Strong("second"), " item")], ordered=ordered)])
    lead = ("1. ", "2. ") if ordered else ("- ", "- ")
    assert plain == f"{lead[0]}first\n{lead[1]}*second* item"
    lst = body[0]
    assert lst.tag == X + ("ol" if ordered else "ul")
    assert [text_of(li) for li in lst] == ["first", "second item"]


def test_key_value_list() -> None:
    plain, body = check([Pairs([("uptime", "3 d"), ("load", 0.5)], title="status")])
    assert plain == "*status*\n*uptime*: 3 d\n*load*: 0.5"
    title, p = list(body)
    assert text_of(title) == "status"
    assert [c.tag for c in p] == [X + "strong", X + "br", X + "strong"]
    assert text_of(p) == "uptime: 3 dload: 0.5"


def test_table_is_aligned_fixed_width_text() -> None:
    plain, body = check([Grid(["iface", "rx"], [["eth0", "12 MB"], ["wlan0", "7"]], "net")])
    assert plain == ("*net*\n```\niface  rx\n-----  -----\neth0   12 MB\nwlan0  7\n```")
    # no table element (the Table module is not in XEP-0071's profile)
    assert not [e for e in body.iter() if e.tag.endswith(("table", "tr", "td", "pre"))]
    pre = body[1]
    assert pre.get("style") == "font-family: monospace"
    lines = _lines(pre)
    assert lines[0] == f"iface{NBSP * 2}rx"
    assert lines[2] == f"eth0{NBSP * 3}12 MB"  # single spaces may wrap, runs do not
    assert pre[0].tag == X + "strong"  # the header row


def _lines(p: ET.Element) -> list[str]:
    out = [p.text or ""]
    for child in p:
        if child.tag == X + "br":
            out.append(child.tail or "")
        else:
            out[-1] += text_of(child) + (child.tail or "")
    return out


def test_log_excerpt_keeps_indentation_and_escapes_markup() -> None:
    log = "12:00 ERROR boom <b>&amp;</b>\n  Traceback:\n    at x\n```"
    plain, body = check([Fixed(log, title="log")])
    assert plain == "*log*\n```\n" + log.replace("\n```", "\n ```") + "\n```"
    lines = _lines(body[1])
    assert lines[0] == "12:00 ERROR boom <b>&amp;</b>"
    assert lines[1] == f"{NBSP * 2}Traceback:"
    assert lines[2] == f"{NBSP * 4}at x"
    # markup in the text stays text: the only elements are br
    assert {e.tag for e in body[1].iter()} == {X + "p", X + "br"}


def test_control_characters_are_dropped() -> None:
    plain, _ = check([Fixed("a\x1b[31mred\x00\r\nb\tc")])
    assert plain == "```\na[31mred\nb       c\n```"
    assert "\x1b" not in tostring(render([Para("x\x07")]).html).decode()


def test_several_blocks_are_separated() -> None:
    plain, body = check([Para("one"), Items(["x"]), Fixed("y")])
    assert plain == "one\n\n- x\n\n```\ny\n```"
    assert [c.tag for c in body] == [X + "p", X + "ul", X + "p"]


def test_payload_is_body_then_html() -> None:
    body, html = render([Para("hi")]).payload()
    assert body.tag == "{jabber:client}body" and body.text == "hi"
    assert html.tag == "{http://jabber.org/protocol/xhtml-im}html"


def test_violations_finds_what_the_profile_does_not_recommend() -> None:
    bad = ET.fromstring(
        "<html xmlns='http://jabber.org/protocol/xhtml-im'>"
        "<body xmlns='http://www.w3.org/1999/xhtml'><table/><p class='x' style='position: fixed'/>"
        "<script/></body></html>"
    )
    found = violations(bad)
    assert any("table" in v for v in found)
    assert any("class" in v for v in found)
    assert any("position" in v for v in found)
    assert any("script" in v for v in found)
