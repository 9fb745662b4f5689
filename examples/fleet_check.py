"""A fleet health check a CI job can run: every device the controller
account reaches must be online and answer ``status``.

    python examples/fleet_check.py controller.toml [GLOB]

Prints one line per device and exits 0 only when every (matching) device
completed the command; 1 otherwise, 2 when the controller config is wrong.
See docs/fleet.md.
"""

from __future__ import annotations

import asyncio
import sys

from stanzalink.fleet import Fleet, Result
from stanzalink.fleet.config import ConfigError


async def check(config: str, only: str | None) -> int:
    try:
        fleet = Fleet.from_file(config)
    except ConfigError as exc:
        print(f"{config}: {exc}", file=sys.stderr)
        return 2

    def show(r: Result) -> None:
        print(f"{r.status:10} {r.device}  {r.fields.get('uptime', r.text.splitlines()[:1])}")

    async with fleet:
        devices = await fleet.devices()
        results = await fleet.run(
            "status", only=only, concurrency=20, timeout=30, on_result=show, devices=devices
        )
    bad = [r for r in results if r.status != "completed"]
    print(f"{len(results) - len(bad)} of {len(results)} devices healthy")
    return 0 if results and not bad else 1


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        sys.exit(2)
    sys.exit(asyncio.run(check(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else None)))
