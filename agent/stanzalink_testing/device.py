"""The config of a throwaway device on a throwaway server: the sections
``make demo``, ``make try`` and the screenshots share, before the ones each
of them adds (identity, access, HTTP, files, console)."""

from __future__ import annotations

from .prosody import Prosody


def device_sections(server: Prosody, jid: str, password: str, status: str) -> str:
    """``[account]`` (resource ``agent``; the device registers its account
    in-band), ``[server]`` (``server`` on loopback, trusted through its CA)
    and ``[presence]`` with ``status``; a blank line after each."""
    return f"""[account]
jid = "{jid}"
password = "{password}"
resource = "agent"
register = true

[server]
host = "127.0.0.1"
port = {server.port}
ca_file = "{server.ca}"

[presence]
status = "{status}"

"""
