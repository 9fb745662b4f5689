"""The controller's configuration: a TOML file with the device's
``[account]`` and ``[server]`` sections (a controller is just another
account), checked by the device's own checkers, and the few sections a
client also reads (``[connection]``, ``[log]``, ``[parser]``).  Anything
else (``[access]``, ``[http]``...) belongs to a device and is refused,
naming the section.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from stanzalink.aio.config import RECONNECT_MAX, ClientConfig
from stanzalink.config import ConfigError, parse

__all__ = ["SECTIONS", "ConfigError", "load_controller", "parse_controller"]

SECTIONS = ("account", "server", "connection", "log", "parser")


def parse_controller(raw: dict[str, Any], base: Path | None = None) -> ClientConfig:
    """The client settings for a controller config already read as TOML."""
    for section in raw:
        if section not in SECTIONS:
            raise ConfigError(
                f"[{section}]: not a controller section (a controller config has "
                f"{', '.join(f'[{s}]' for s in SECTIONS)})"
            )
    cfg = parse(raw, base)
    return ClientConfig(
        jid=cfg.jid,
        password=cfg.password,
        # a resource of its own per run: two runs at once do not replace each other
        resource=cfg.resource or "fleet-" + os.urandom(4).hex(),
        register=cfg.register,
        require_tls=cfg.require_tls,
        stream_management=cfg.stream_management,
        csi_inactive=False,  # servers hold back what an inactive client is sent
        keepalive=cfg.keepalive,
        keepalive_timeout=cfg.keepalive_timeout,
        whitespace_keepalive=cfg.whitespace_keepalive,
        host=cfg.host,
        port=cfg.port,
        direct_tls=cfg.direct_tls,
        ca_file=cfg.ca_file,
        verify_tls=cfg.verify_tls,
        client_cert=cfg.client_cert,
        client_key=cfg.client_key,
        scram_keys_file=cfg.scram_keys_file,
        parser_backend=cfg.parser_backend,
        reconnect=False,  # one run of the tool: a lost link ends it
        backoff_cap=float(cfg.section("connection").get("reconnect_max", RECONNECT_MAX)),
    )


def load_controller(path: str | Path) -> ClientConfig:
    """The client settings of the controller config at ``path``;
    :class:`ConfigError` names the key that is wrong."""
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return parse_controller(raw, Path(os.path.abspath(path)).parent)
