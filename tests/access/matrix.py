"""The authorization model as data: who may do what on a device.

One row per console/ad-hoc command, per XEP-0332 path rule of the example
configuration below, per file operation and per config key; one column per
kind of sender.  The tests check the device against every cell
(tests/access/test_matrix.py), check that every registered command has a
row, and check that docs/access.md holds exactly the table :func:`table`
writes (``python -m tests.access.matrix`` prints it).
"""

from __future__ import annotations

from stanzalink.agent import schema
from stanzalink.commands.settings import SETTABLE

SENDERS = ("stranger", "viewer", "operator", "admin")
RANK = {"viewer": 1, "operator": 2, "admin": 3}

# the least role of each built-in command, with the defaults of [files]
# (role_get = "viewer", role_put = "operator") and [console] shell = true
COMMANDS: dict[str, str] = {
    "help": "viewer",
    "status": "viewer",
    "version": "viewer",
    "net": "viewer",
    "who": "viewer",
    "get": "viewer",
    "ls": "viewer",
    "files": "viewer",
    "log": "operator",
    "config": "operator",
    "ping": "operator",
    "inbox": "operator",
    "put": "operator",
    "restart": "admin",
    "reboot": "admin",
    "shell": "admin",
}

# [http] paths of the example (the longest matching prefix wins, also
# case-folded and with // merged; no match: operator)
HTTP_PATHS = {"/api/": "viewer", "/admin/": "admin"}
HTTP: dict[str, str] = {
    "/api/status": "viewer",
    "/": "operator",
    "/metrics": "operator",
    "/admin/users": "admin",
    "/ADMIN/users": "admin",
    "//admin/users": "admin",
    "/admin;v=1/users": "admin",
}

# Jingle file transfer, with the defaults of [files]
FILES: dict[str, str] = {
    "receive a file from the device (get, a FileOffer)": "viewer",
    "send a file to the device (Jingle put)": "operator",
}

NOBODY = "nobody"


def config_keys() -> dict[str, str]:
    """Every ``section.key`` of the config: who may change it at run time
    with ``config set`` (when ``[console] settable`` lists it): an
    operator for the allow-listed keys, nobody for the rest."""
    return {
        f"{sec}.{key}": ("operator" if f"{sec}.{key}" in SETTABLE else NOBODY)
        for sec, section in sorted(schema().items())
        for key in sorted(section.keys)
    }


def allowed(sender: str, need: str) -> bool:
    return sender != "stranger" and need != NOBODY and RANK[sender] >= RANK[need]


def cell(sender: str, need: str, refused: str) -> str:
    """What the table says a sender gets (``refused``: the answer to a
    controller whose role is too low; ``{need}`` in it is the role)."""
    if sender == "stranger":
        return "—"
    if allowed(sender, need):
        return "yes"
    return refused.format(need=need)


def _rows(title: str, rows: dict[str, str], refused: str) -> list[str]:
    out = [f"| {title} | least role | " + " | ".join(SENDERS) + " |"]
    out.append("| --- | --- |" + " --- |" * len(SENDERS))
    for name, need in rows.items():
        cells = " | ".join(cell(s, need, refused) for s in SENDERS)
        out.append(f"| `{name}` | {need} | {cells} |")
    return out


def table() -> str:
    """The markdown tables of docs/access.md (between its markers)."""
    parts = [
        "### Commands (chat console and ad-hoc commands alike)",
        "",
        *_rows("command", COMMANDS, "no: needs {need}"),
        "",
        f"### HTTP paths (XEP-0332), with `[http] paths = {HTTP_PATHS}`",
        "",
        *_rows("path", HTTP, "no (service-unavailable)"),
        "",
        "### File transfer",
        "",
        *_rows("operation", FILES, "no (security-error)"),
        "",
        "### `config set` (a key must also be listed in `[console] settable`;"
        " a viewer is told `config` needs operator)",
        "",
        *_rows("key", config_keys(), "no"),
    ]
    return "\n".join(parts) + "\n"


def cells() -> int:
    """How many cells the table has (each is tested)."""
    rows = len(COMMANDS) * 2 + len(HTTP) + len(FILES) + len(config_keys())
    return rows * len(SENDERS)


if __name__ == "__main__":
    print(table(), end="")
