"""Result values as console content, and long content in pages."""

from __future__ import annotations

from stanzalink.commands import FileOffer, KeyValue, Table, Text
from stanzalink.console.render import message, paginate, to_blocks
from stanzalink.xep.xhtml_im import Code, Fixed, Grid, Items, Pairs, Para, plain, render, violations
from stanzalink.xml import tostring


def test_result_values_become_blocks() -> None:
    blocks = to_blocks(
        [
            "hello",
            Text("a  b", preformatted=True),
            Text("prose"),
            KeyValue([("k", None), ("n", 3)], title="t"),
            Table(["a"], [[1]], title="x"),
            FileOffer("/var/log/x.log", "the log"),
            None,
            "",
        ]
    )
    assert blocks == [
        Para("hello"),
        Fixed("a  b"),
        Para("prose"),
        Pairs([("k", ""), ("n", 3)], "t"),
        Grid(["a"], [[1]], "x"),
        Para("file offered: ", "/var/log/x.log", " (the log)"),
    ]
    assert to_blocks(None) == [] and to_blocks(Items(["x"])) == [Items(["x"])]


def test_a_long_table_is_split_with_its_header_on_every_page() -> None:
    rows = [[f"host{i:03d}", "up" if i % 2 else "down", i * 10] for i in range(300)]
    pages = paginate([Grid(["host", "state", "ms"], rows, title="hosts")], 2048)
    assert len(pages) >= 3
    seen = []
    for i, page in enumerate(pages):
        text = "\n\n".join(plain(b) for b in page)
        assert len(text.encode()) <= 2048 - 128
        lines = text.split("\n")
        start = 2 if i == 0 else 1  # the title, then the fence
        assert lines[start].startswith("host   ") and lines[start + 1].startswith("-------")
        seen += [ln.split()[0] for ln in lines if ln.startswith("host") and ln[4].isdigit()]
        assert violations(render(page).html) == []
    assert seen == [f"host{i:03d}" for i in range(300)]


def test_long_lists_and_pairs_are_split_and_a_huge_line_is_cut() -> None:
    items = Items([f"item {i} " + "y" * 50 for i in range(100)])
    pairs = Pairs([(f"k{i}", "v" * 60) for i in range(100)], title="many")
    huge = Fixed("z" * 10000)
    pages = paginate([items, pairs, huge], 1024)
    for page in pages:
        assert len("\n\n".join(plain(b) for b in page).encode()) <= 1024
    text = "\n".join(plain(b) for page in pages for b in page)
    assert text.count("- item ") == 100 and text.count("*k") == 100
    assert " …" in text  # the 10000-character line, cut to fit


def test_small_content_is_one_page() -> None:
    assert paginate([Para("x"), Para("y")], 16384) == [[Para("x"), Para("y")]]
    assert paginate([], 16384) == [[]]


# ------------------------------------------------------------------ message
STATUS = [
    Pairs([("device", "device1@example.net"), ("disk /", "1 GiB free (69 % used)")], "status"),
    Grid(["interface", "addresses"], [["lo", "127.0.0.1"], ["eth0", "-"]]),
]
NB = "\u00a0"


def test_a_page_is_one_paragraph_with_line_breaks_and_a_monospace_span() -> None:
    # libpurple runs <p>…</p><p>…</p> together and carries a <p>'s
    # monospace style past its end: one <p>, <br/> between blocks, tables
    # as a <span> that closes where the table ends
    r = message([*STATUS, Para("Send ", Code("help X"), " for details."), Items(["a", "b"])])
    assert violations(r.html) == []
    xhtml = tostring(r.html).decode()
    assert xhtml == (
        '<html xmlns="http://jabber.org/protocol/xhtml-im">'
        '<body xmlns="http://www.w3.org/1999/xhtml"><p>'
        "<strong>status</strong><br/>"
        "<strong>device</strong>: device1@example.net<br/>"
        "<strong>disk /</strong>: 1 GiB free (69 % used)<br/><br/>"
        '<span style="font-family: monospace">'
        f"<strong>interface{NB}{NB}addresses</strong><br/>"
        f"---------{NB}{NB}---------<br/>"
        f"lo{NB * 9}127.0.0.1<br/>"
        f"eth0{NB * 7}-</span><br/><br/>"
        'Send <span style="font-family: monospace">help X</span> for details.<br/><br/>'
        "\u2022 a<br/>\u2022 b</p></body></html>"
    )
    # the plain body (what profanity shows): keys bare, the title and the
    # table in XEP-0393 styling
    assert r.body == (
        "*status*\n"
        "device: device1@example.net\n"
        "disk /: 1 GiB free (69 % used)\n"
        "\n"
        "```\n"
        "interface  addresses\n"
        "---------  ---------\n"
        "lo         127.0.0.1\n"
        "eth0       -\n"
        "```\n"
        "\n"
        "Send `help X` for details.\n"
        "\n"
        "- a\n"
        "- b"
    )


def test_titled_blocks_and_numbered_lists_in_one_paragraph() -> None:
    r = message([Grid(["a"], [["1"]], title="t"), Fixed("x\n  y", title="log"), Items(["p"], True)])
    (body,) = list(r.html)
    (p,) = list(body)
    assert [c.tag.rpartition("}")[2] for c in p] == [
        "strong", "br", "span", "br", "br", "strong", "br", "span", "br", "br",
    ]  # fmt: skip
    assert p[7].get("style") == "font-family: monospace"
    assert "".join(p[7].itertext()) == f"x{NB}{NB}y"  # the <br/> is inside the span
    assert p[-1].tail == "1. p"
    assert r.body == "*t*\n```\na\n-\n1\n```\n\n*log*\n```\nx\n  y\n```\n\n1. p"


def test_an_empty_page_is_an_empty_body() -> None:
    r = message([])
    assert r.body == "" and tostring(r.html).decode().endswith(
        '<body xmlns="http://www.w3.org/1999/xhtml"/></html>'
    )
