#!/usr/bin/env python3
"""Write the golden inputs native/tests/golden/*.xml from the shared test
cases (tests/xml/cases.py) and the fuzz seed corpus native/fuzz/corpus/.

The expected outputs (*.out) come from `make -C native golden`, and only
after `pytest tests/xml` has shown that both parser backends agree on
these very inputs.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.xml.cases import AT_START, CLOSE, HEADER, IN_STREAM, STANZA, VALID  # noqa: E402


def main() -> None:
    golden = ROOT / "native" / "tests" / "golden"
    corpus = ROOT / "native" / "fuzz" / "corpus"
    golden.mkdir(parents=True, exist_ok=True)
    corpus.mkdir(parents=True, exist_ok=True)
    cases: dict[str, bytes] = {}
    for name, bad, _cond in IN_STREAM:
        cases["reject-" + name] = HEADER + STANZA + bad + STANZA + CLOSE
    for name, data, _cond in AT_START:
        cases["start-" + name] = data
    for name, body in VALID:
        cases["valid-" + name] = HEADER + body + CLOSE
    for name, data in cases.items():
        (golden / f"{name}.xml").write_bytes(data)
        # fuzz seeds: schedule byte, max_events byte, limits byte, then the stream
        (corpus / f"{name}").write_bytes(b"\x01\x00\x00" + data)
    print(f"{len(cases)} cases")


if __name__ == "__main__":
    main()
