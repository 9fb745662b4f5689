"""The README's benchmark sections: each bench owns the text between its
``<!-- bench:NAME:start -->`` and ``<!-- bench:NAME:end -->`` markers and
rewrites only that."""

from __future__ import annotations

from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent.parent / "README.md"


def markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"


def replace_section(name: str, body: str, readme: Path = README) -> bool:
    """Put ``body`` between the section's markers (a line break after the
    start marker and before the end marker); False, and the file left
    alone, when either marker is missing."""
    start, end = markers(name)
    if not readme.exists():
        return False
    text = readme.read_text(encoding="utf-8")
    if start not in text or end not in text:
        return False
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    new = head + start + "\n" + body + "\n" + end + tail
    if new != text:
        readme.write_text(new, encoding="utf-8")
    return True


def busy_machine(out: dict[str, Any], more: str = "") -> list[str]:
    """A paragraph (after a blank line) saying that the machine was shared
    with other jobs, from the run's ``cpus`` and ``load_average_before`` /
    ``_after``, followed by ``more``; nothing when no load average went
    over 1."""
    before, after = out["load_average_before"], out["load_average_after"]
    if max(before + after) <= 1.0:
        return []
    return [
        "",
        f"The machine ({out['cpus']} cores) was shared with other jobs during this run: load "
        f"average {' / '.join(map(str, before))} before and {' / '.join(map(str, after))} "
        "after (1 / 5 / 15 minutes)." + more,
    ]


def write_section(name: str, lines: list[str], what: str) -> bool:
    """:func:`replace_section` with the lines of a table; when the markers
    are missing, says so and prints the table instead."""
    if replace_section(name, "\n".join(lines)):
        return True
    print(f"README markers for the {what} are missing; table:\n" + "\n".join(lines))
    return False
