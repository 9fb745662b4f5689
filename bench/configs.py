"""The device configs the benchmarks run ``stanzalink run`` with.

- :func:`default_config`: only what ``stanzalink run`` needs (``[account]``,
  ``[server]``, ``[access]``), every other key at its default;
- :func:`full_config`: every feature turned on, as ``examples/device.toml``
  has them (HTTP, files with SOCKS5, identity with an avatar, the console,
  ad-hoc commands), with its inbox, export folder and avatar made beside it.

Both connect to a server on this host's loopback that trusts ``ca``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

# a 1x1 PNG: the avatar
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


def account_toml(
    server: dict[str, Any],
    user: str,
    admin: str,
    *,
    password: str | None = None,
    resource: str | None = None,
    connection: Sequence[str] = (),
) -> str:
    """``[account]`` (``user`` on the server's domain; password
    ``{user}-pw`` unless given), ``[server]`` (``server``'s ``domain``,
    ``port`` and ``ca``), ``[connection]`` when there are lines for it, and
    ``[access]`` with ``admin`` (a user on the same domain) as the admin."""
    domain = server["domain"]
    text = f'[account]\njid = "{user}@{domain}"\npassword = "{password or user + "-pw"}"\n'
    if resource is not None:
        text += f'resource = "{resource}"\n'
    text += f'[server]\nhost = "127.0.0.1"\nport = {server["port"]}\nca_file = "{server["ca"]}"\n'
    if connection:
        text += "[connection]\n" + "\n".join(connection) + "\n"
    return text + f'[access]\nadmin = ["{admin}@{domain}"]\n'


def default_config(root: Path, server: dict[str, Any], user: str, admin: str = "admin") -> Path:
    """Only what ``stanzalink run`` needs: every other key at its default."""
    cfg = root / f"{user}.toml"
    cfg.write_text(account_toml(server, user, admin))
    return cfg


def full_config(
    root: Path,
    server: dict[str, Any],
    user: str,
    *,
    name: str,
    admin: str = "admin",
    resource: str | None = None,
    connection: Sequence[str] = (),
    file: str | None = None,
) -> Path:
    """Every feature turned on; ``name`` is the device's identity name.  The
    inbox, the export folder and the avatar are made in ``root``; the config
    is ``root/<file>`` (``<user>.toml`` by default)."""
    for d in ("inbox", "export"):
        (root / d).mkdir(parents=True, exist_ok=True)
    photo = root / "avatar.png"
    photo.write_bytes(PNG)
    cfg = root / (file or f"{user}.toml")
    cfg.write_text(
        account_toml(server, user, admin, resource=resource, connection=connection)
        + f"""operator = ["{server["domain"]}"]
[http]
origin = "http://127.0.0.1:9"
[files]
inbox = "{root / "inbox"}"
export = ["{root / "export"}"]
socks5 = true
[identity]
name = "{name}"
photo = "{photo}"
[console]
enabled = true
[adhoc]
"""
    )
    return cfg
