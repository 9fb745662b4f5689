"""cffi build script (out-of-line API mode) for stanzalink._sl_native.

setup.py names it in ``cffi_modules``; the cdef is read from the real
headers, so the binding cannot drift from them.  STANZALINK_CFLAGS adds
compiler flags (the cross builds and the sanitizer runs use it).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
INCLUDE = HERE / "include"
HEADERS = ["stanzalink/tokenizer.h", "stanzalink/ringbuf.h", "stanzalink/tree.h"]
SOURCES = ["src/tokenizer.c", "src/ringbuf.c", "src/escape.c", "src/tree.c"]
# what the sources include besides the public headers: src/tokenizer.c is
# one unit made of the job files in src/tokenizer/ (see native/README.md)
DEPENDS = sorted(
    str(p.relative_to(HERE)) for p in [*HERE.glob("src/*.h"), *HERE.glob("src/tokenizer/*")]
)


def _local(rel: str) -> str:
    """A path under native/, relative to the working directory when it can be."""
    return (
        str((HERE / rel).relative_to(Path.cwd()))
        if HERE.is_relative_to(Path.cwd())
        else str(HERE / rel)
    )


def cdef_from_headers() -> str:
    """The declarations of the public headers, preprocessor lines removed and
    #define constants turned into cffi integer constants."""
    out = []
    for name in HEADERS:
        text = (INCLUDE / name).read_text()
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        for line in text.splitlines():
            s = line.strip()
            m = re.match(r"#define\s+(SL_\w+)\s+\(?-?\d+\)?$", s)
            if m:
                out.append(f"#define {m.group(1)} ...")
                continue
            if s.startswith("#") or s in ('extern "C" {', "}") or not s:
                continue
            out.append(line)
    return "\n".join(out)


ffibuilder = FFI()
ffibuilder.cdef(cdef_from_headers())
ffibuilder.set_source(
    "stanzalink._sl_native",
    "".join(f'#include "{h}"\n' for h in HEADERS),
    sources=[_local(s) for s in SOURCES],
    depends=[_local(d) for d in DEPENDS],
    include_dirs=[str(INCLUDE)],
    extra_compile_args=["-O2", "-std=c99", *os.environ.get("STANZALINK_CFLAGS", "").split()],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
