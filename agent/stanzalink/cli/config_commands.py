"""`stanzalink check-config` and `example-config`: the device's config
checked without connecting, and the commented example printed.  Apart
from :mod:`.run`, so that a running agent never holds them."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from stanzalink.cli.run import load_device_config

if TYPE_CHECKING:
    import argparse


def example_config() -> str:
    """The example device config shipped in the package (examples/device.toml)."""
    from importlib.resources import files

    return files("stanzalink").joinpath("data", "device.toml").read_text(encoding="utf-8")


def cmd_example_config(args: argparse.Namespace) -> int:
    sys.stdout.write(example_config())
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    from stanzalink.config import ConfigError

    try:
        cfg = load_device_config(args.file)
    except ConfigError as exc:
        print(f"stanzalink: {args.file}: {exc}", file=sys.stderr)
        return 1
    from stanzalink.access import check_entries

    roles = ", ".join(f"{len(cfg.access.get(r, []))} {r}" for r in ("admin", "operator", "viewer"))
    print(f"{args.file}: OK (device {cfg.jid}; controllers: {roles})")
    register = bool(cfg.section("account").get("register"))
    for warning in check_entries(cfg.jid, cfg.access, register):
        print(f"stanzalink: warning: {args.file}: {warning}", file=sys.stderr)
    if not any(cfg.access.values()):
        print(
            f"stanzalink: warning: {args.file}: [access] names no controllers: "
            "nobody can reach the device",
            file=sys.stderr,
        )
    return 0
