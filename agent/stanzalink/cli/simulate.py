"""`stanzalink simulate`: N device agents in this one process
(:mod:`stanzalink.simulate`), with a line of counts every few seconds."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, TextIO

__all__ = ["add_parser", "cmd_simulate"]

EPILOG = """\
examples:
  stanzalink simulate --config sim.toml --devices 200
  stanzalink simulate --config sim.toml --devices 500 --start 501 --ramp 50 --json

sim.toml is a device config whose [account] holds {n}, replaced by each
device's number (START .. START+N-1) in jid, password and resource:

  [account]
  jid = "sim{n}@example.net"
  password = "secret-{n}"
  register = true            # each device creates its account in-band

Every device is a whole agent (all features, its own roster and commands)
on one event loop; the template is checked once and the TLS context shared.
Every INTERVAL seconds a line of counts goes to stderr (online, connecting,
offline, not started, stopped) and, with --json, a JSON object to stdout:
{"elapsed": s, "devices": N, "online": ..., "connecting": ..., "offline": ...,
 "pending": ..., "stopped": ..., "rss": bytes}.

exit status: 0 stopped by SIGTERM or SIGINT with every device running,
1 a device's agent stopped by itself (e.g. a refusal it does not retry),
2 a bad template or argument.
"""


def add_parser(sub: Any, seconds: Any) -> None:
    """The ``simulate`` subcommand on the main parser's subparsers."""
    s = sub.add_parser(
        "simulate",
        help="run many device agents in one process (load tests)",
        description=(
            "Run N device agents on one event loop, each with its own account made "
            "from the template's [account] ({n} becomes the device's number), until "
            "SIGTERM or SIGINT."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("--config", required=True, metavar="TEMPLATE", help="the device template")
    s.add_argument("--devices", required=True, type=_count, metavar="N", help="how many")
    s.add_argument("--start", type=_count, default=1, metavar="K",
                   help="the first device's number (default 1)")  # fmt: skip
    s.add_argument("--ramp", type=seconds, default=None, metavar="PER_SECOND",
                   help="start this many devices a second (default: all at once)")  # fmt: skip
    s.add_argument("--register", action="store_true",
                   help="create the accounts in-band (as [account] register = true)")  # fmt: skip
    s.add_argument("--interval", type=seconds, default=5.0, metavar="S",
                   help="seconds between lines of counts (default 5)")  # fmt: skip
    s.add_argument("--json", action="store_true", help="the counts as JSON lines on stdout")
    s.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default="error",
        help="the agents' log on stderr (default error: N devices say a lot)",
    )
    s.set_defaults(func=cmd_simulate)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def cmd_simulate(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from stanzalink.config import ConfigError
    from stanzalink.logsafe import SafeFormatter
    from stanzalink.simulate import Simulation, Template

    stderr = logging.StreamHandler()
    stderr.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), handlers=[stderr])
    try:
        template = Template.from_file(args.config, register=True if args.register else None)
        sim = Simulation(template, args.devices, start=args.start, ramp=args.ramp)
    except ConfigError as exc:
        print(f"stanzalink: {args.config}: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_main(sim, args, sys.stdout))


async def _main(sim: Any, args: argparse.Namespace, out: TextIO) -> int:
    import asyncio
    import signal

    from stanzalink.simulate import rss_bytes

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    began = time.monotonic()

    def report() -> None:
        counts = sim.counts()
        elapsed = time.monotonic() - began
        print(f"stanzalink simulate: {elapsed:7.1f} s  {counts.line()}", file=sys.stderr)
        if args.json:
            line = {"elapsed": round(elapsed, 2), **counts.as_json(), "rss": rss_bytes()}
            print(json.dumps(line), file=out, flush=True)

    async def ticker() -> None:
        while True:
            await asyncio.sleep(args.interval)
            report()

    tick = asyncio.ensure_future(ticker())
    try:
        failed = await sim.run(stop)
    finally:
        tick.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    report()
    if failed:
        print(f"stanzalink simulate: {failed} device(s) stopped by themselves", file=sys.stderr)
    return 1 if failed else 0
