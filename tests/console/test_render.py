"""Result values as console content, and long content in pages."""

from __future__ import annotations

from stanzalink.commands import FileOffer, KeyValue, Table, Text
from stanzalink.console.render import paginate, to_blocks
from stanzalink.xep.xhtml_im import Fixed, Grid, Items, Pairs, Para, plain, render, violations


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
