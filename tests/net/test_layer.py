"""net/ sits below the features: importing it pulls in no feature, no
session core and no client; the features that use it (jingle-s5b, http)
reach it only through what agent.py passes their constructors."""

from __future__ import annotations

import json
import subprocess

from tests.util import python_cmd

ABOVE = ("stanzalink.xep", "stanzalink.aio", "stanzalink.session", "stanzalink.console",
         "stanzalink.fleet", "stanzalink.agent")  # fmt: skip


def loaded_by(*modules: str, prefixes: tuple[str, ...]) -> list[str]:
    code = (
        f"import json, sys, {', '.join(modules)}\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({prefixes!r}))))"
    )
    out = subprocess.run([*python_cmd(), "-c", code], capture_output=True, text=True, check=True)
    return list(json.loads(out.stdout))


def test_net_imports_nothing_above_it() -> None:
    mods = ("stanzalink.net.socks5", "stanzalink.net.s5b", "stanzalink.net.http_origin")
    assert loaded_by(*mods, prefixes=ABOVE) == []


def test_the_features_open_no_sockets_of_their_own() -> None:
    """The XEP-0332 and Jingle features import net/ only for types (the
    HTTP feature not at all): the sockets come from the agent."""
    assert loaded_by("stanzalink.xep.http", prefixes=("stanzalink.net",)) == []
    assert loaded_by("stanzalink.xep.jingle.file_transfer", prefixes=("stanzalink.aio",)) == []
