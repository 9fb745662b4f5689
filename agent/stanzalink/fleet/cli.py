"""``stanzalink fleet``: the operator's command line over :class:`Fleet`.

``fleet list`` prints every device (a table, or one JSON object a line:
device, online, status, version, last_seen).  ``fleet run`` runs one
ad-hoc command on every matching online device and prints one result per
device (a table, or JSON lines: device, status, text, fields) as each
finishes (JSON) or all at the end (table).  Exit status: 0 when every
device completed, 1 when one did not (error, timeout, offline) or none
matched, 2 a bad argument or config, 130 interrupted (what finished is
printed first).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from stanzalink.fleet.core import Device, Fleet, Result, glob_match

__all__ = ["add_parser", "cmd_fleet", "device_table", "result_table"]

EPILOG = """\
examples:
  stanzalink fleet list --config controller.toml
  stanzalink fleet run --config controller.toml status
  stanzalink fleet run --config controller.toml --json --only 'sensor-*' --concurrency 50 \\
      --timeout 20 log lines=50

controller.toml needs [account] (jid, password) and, for a server without SRV
records, [server] (host, port, ca_file): the same sections as a device.  The
devices list the controller in their [access]; they subscribe to it, and this
tool accepts their subscriptions.

ARGS fill the command's form: NAME=VALUE sets a field, a bare value the next
field in order.  A command that asks for confirmation runs only with --yes.

exit status: 0 every device completed, 1 a device did not (error, timeout,
offline) or none matched, 2 a bad argument or config, 130 interrupted (the
results already in are printed).  See docs/fleet.md in the source tree.
"""


def add_parser(sub: Any, seconds: Any) -> None:
    """The ``fleet`` subcommand on the main parser's subparsers."""
    raw = argparse.RawDescriptionHelpFormatter
    f = sub.add_parser(
        "fleet",
        help="list the devices a controller reaches, or run a command on many",
        description="Act for a controller account on every device it can reach.",
        epilog=EPILOG,
        formatter_class=raw,
    )
    fs = f.add_subparsers(dest="fleet_command", metavar="ACTION")
    fs.required = True
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", required=True, metavar="FILE", help="the controller's TOML")
    common.add_argument("--json", action="store_true", help="one JSON object a line")
    common.add_argument("--verbose", "-v", action="store_true", help="log on stderr")
    fl = fs.add_parser("list", parents=[common], help="every device, online or not",
                       epilog=EPILOG, formatter_class=raw)  # fmt: skip
    fl.set_defaults(func=cmd_fleet)
    fr = fs.add_parser("run", parents=[common], help="run an ad-hoc command on many devices",
                       epilog=EPILOG, formatter_class=raw)  # fmt: skip
    fr.add_argument("--only", metavar="GLOB", help="devices whose bare JID matches")
    fr.add_argument("--concurrency", type=_count, default=10, metavar="N",
                    help="at most N devices at once (default 10)")  # fmt: skip
    fr.add_argument("--timeout", type=seconds, default=30.0, metavar="S",
                    help="seconds per device (default 30)")  # fmt: skip
    fr.add_argument("--yes", action="store_true", help="answer a confirmation question yes")
    fr.add_argument("command", metavar="COMMAND", help="the command (e.g. status)")
    fr.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS",
                    help="NAME=VALUE or values in form order")  # fmt: skip
    fr.set_defaults(func=cmd_fleet)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]  # fmt: skip
    return "\n".join(lines)


def device_table(devices: Sequence[Device]) -> str:
    rows = [(d.jid, "online" if d.online else "offline", d.version or "-",
             d.last_seen or "-", d.status or "-") for d in devices]  # fmt: skip
    return _table(("DEVICE", "ONLINE", "VERSION", "LAST SEEN", "STATUS"), rows)


def _one_line(text: str, limit: int = 80) -> str:
    line = " | ".join(part.strip() for part in text.splitlines() if part.strip())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def result_table(results: Sequence[Result]) -> str:
    rows = [(r.device, r.status, f"{r.seconds:.1f}", _one_line(r.text) or "-") for r in results]
    return _table(("DEVICE", "STATUS", "SECONDS", "TEXT"), rows)


def _summary(results: Sequence[Result], total: int) -> str:
    counts = {s: sum(1 for r in results if r.status == s) for s in
              ("completed", "error", "timeout", "offline")}  # fmt: skip
    parts = [f"{n} {s}" for s, n in counts.items() if n]
    return f"{len(results)} of {total} devices: " + (", ".join(parts) or "none")


def cmd_fleet(args: argparse.Namespace) -> int:
    from stanzalink.fleet.config import ConfigError, load_controller
    from stanzalink.logsafe import SafeFormatter

    stderr = logging.StreamHandler()
    stderr.setFormatter(SafeFormatter("stanzalink fleet: %(message)s"))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.CRITICAL, handlers=[stderr])
    try:
        config = load_controller(args.config)
    except ConfigError as exc:
        print(f"stanzalink: {args.config}: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_main(Fleet(config), args, sys.stdout))


async def _main(fleet: Fleet, args: argparse.Namespace, out: TextIO) -> int:
    from stanzalink.errors import StanzalinkError

    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    interrupted = False

    def interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        if task is not None:
            task.cancel()

    loop.add_signal_handler(signal.SIGINT, interrupt)
    total = 0
    try:
        try:
            await fleet.start()
            devices = await fleet.devices(details=args.fleet_command == "list")
        except (StanzalinkError, TimeoutError, OSError) as exc:  # login refused, no server...
            hint = (
                " (a private CA? name it in [server] ca_file)" if "CERTIFICATE" in str(exc) else ""
            )
            print(f"stanzalink fleet: {exc or type(exc).__name__}{hint}", file=sys.stderr)
            return 1
        if args.fleet_command == "list":
            if args.json:
                for d in devices:
                    print(json.dumps(d.as_json(), ensure_ascii=False), file=out)
            else:
                print(device_table(devices), file=out)
            return 0
        total = len([d for d in devices if args.only is None or glob_match(d.jid, args.only)])
        if not total:
            print("stanzalink fleet: no device matched", file=sys.stderr)
            return 1

        def shown(r: Result) -> None:
            if args.json:
                print(json.dumps(r.as_json(), ensure_ascii=False), file=out, flush=True)

        results = await fleet.run(
            args.command, args.args, only=args.only, concurrency=args.concurrency,
            timeout=args.timeout, confirm=args.yes, on_result=shown, devices=devices,
        )  # fmt: skip
        if not args.json:
            print(result_table(results), file=out)
        print(_summary(results, total), file=sys.stderr)
        return 0 if all(r.status == "completed" for r in results) else 1
    except asyncio.CancelledError:
        if not interrupted:
            raise
        done = sorted(fleet.finished, key=lambda r: r.device)
        if not args.json and done:
            print(result_table(done), file=out)
        print(f"stanzalink fleet: interrupted; {_summary(done, total)}", file=sys.stderr)
        return 130
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        await asyncio.shield(fleet.close())
