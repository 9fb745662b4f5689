"""The controller's configuration: a TOML file with the device's
``[account]`` and ``[server]`` sections (a controller is just another
account), checked by the same section declarations as a device's
(:mod:`stanzalink.aio.sections`), and the few sections a client also reads
(``[connection]``, ``[log]``, ``[parser]``).  Anything else (``[access]``,
``[http]``...) belongs to a device and is refused, naming the section.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from stanzalink import config
from stanzalink.aio import sections
from stanzalink.aio.config import ClientConfig
from stanzalink.config import ConfigError, DeviceConfig

__all__ = ["SECTIONS", "ConfigError", "load_controller", "parse_controller"]

SCHEMA = config.schema_of([*sections.SECTIONS, sections.LOG])
SECTIONS = tuple(SCHEMA)


def parse_controller(raw: dict[str, Any], base: str | None = None) -> ClientConfig:
    """The client settings for a controller config already read as TOML."""
    for section in raw:
        if section not in SCHEMA:
            raise ConfigError(
                f"[{section}]: not a controller section (a controller config has "
                f"{', '.join(f'[{s}]' for s in SECTIONS)})"
            )
    values = config.parse(raw, SCHEMA, base)
    jid, password = sections.account({**sections.ACCOUNT.defaults(), **values.get("account", {})})
    cfg = DeviceConfig(jid=jid, password=password, sections=values, base=base, schema=SCHEMA)
    return sections.client_config(
        cfg,
        # a resource of its own per run: two runs at once do not replace each other
        resource=sections.ACCOUNT.of(cfg)["resource"] or "fleet-" + os.urandom(4).hex(),
        csi_inactive=False,  # servers hold back what an inactive client is sent
        reconnect=False,  # one run of the tool: a lost link ends it
    )


def load_controller(path: str | Path) -> ClientConfig:
    """The client settings of the controller config at ``path``;
    :class:`ConfigError` names the key that is wrong."""
    return parse_controller(config.read_toml(path), config.folder_of(path))
