"""The user documentation points at things that exist: relative links (and
their #anchors), and the source paths it names in backticks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [
    *sorted(ROOT.glob("docs/*.md")),
    ROOT / "README.md",
    ROOT / "recipes/README.md",
    ROOT / "buildroot/README.md",
]
TOP = "docs|examples|tests|bench|agent|scripts|packaging|recipes|buildroot|native"


def anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to -."""
    out = set()
    for m in re.finditer(r"^#+\s+(.*)$", text, re.M):
        out.add(re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-"))
    return out


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_and_paths_exist(doc: Path) -> None:
    text = doc.read_text()
    for m in re.finditer(r"\]\(\s*([^)\s]+)\s*\)", text):
        target = m.group(1)
        if re.match(r"^[a-z]+:", target):
            continue  # http:, https:, mailto:
        path, _, frag = target.partition("#")
        file = (doc.parent / path) if path else doc
        assert file.exists(), f"{doc.name}: broken link {target}"
        if frag and file.suffix == ".md":
            assert frag in anchors(file.read_text()), f"{doc.name}: no #{frag} in {path}"
    for m in re.finditer(rf"`((?:{TOP})/[\w./-]+)`", text):
        rel = m.group(1).rstrip(".")
        assert (ROOT / rel).exists(), f"{doc.name}: names {rel}, which does not exist"


def test_the_checker_sees_a_broken_link(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("# Title\n[a](nowhere.md) [b](#title)\n")
    with pytest.raises(AssertionError, match=r"broken link nowhere\.md"):
        test_links_and_paths_exist(doc)
    doc.write_text("# Title\n[b](#other) `docs/nowhere.md`\n")
    with pytest.raises(AssertionError, match="no #other"):
        test_links_and_paths_exist(doc)
