"""A dead path on loopback: every packet to and from one TCP port dropped
by nftables, the way a NAT that forgot the connection or a cut cable looks
to both ends (no RST, no FIN; the sockets stay open and hear nothing).

Needs root and ``nft``; run it inside a network namespace of the caller's
own (``unshare -n``), so the host's own loopback traffic is never touched.
"""

from __future__ import annotations

import subprocess

TABLE = "deadlink"


def drop_path(port: int) -> None:
    """From now on, drop every packet to and from TCP ``port`` (an nftables
    table of its own, ``inet deadlink``, on the input hook)."""
    rules = (
        f"table inet {TABLE} {{\n chain path {{\n  type filter hook input priority 0;\n"
        f"  tcp dport {port} drop\n  tcp sport {port} drop\n }}\n}}\n"
    )
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True)


def restore_path() -> None:
    """Undo :func:`drop_path`: the table and its rules deleted."""
    subprocess.run(["nft", "delete", "table", "inet", TABLE], check=True)
