"""The console stays a feature module: it never pulls in the session core
or the asyncio client (DESIGN.md rule 4), nor the other front end of the
device's commands (ad-hoc commands)."""

from __future__ import annotations

import subprocess

from tests.util import python_cmd


def test_console_imports_no_session_or_client() -> None:
    code = (
        "import sys, stanzalink.console.feature, stanzalink.commands.builtin,"
        " stanzalink.xep.xhtml_im\n"
        "print(sorted(m for m in sys.modules"
        " if m.startswith(('stanzalink.aio', 'stanzalink.session', 'stanzalink.xep.adhoc',"
        " 'stanzalink.xep.command_forms'))))"
    )
    out = subprocess.run([*python_cmd(), "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
