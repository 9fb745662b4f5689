"""The built-in commands, served by the chat console and ad-hoc commands.

:func:`install` registers them (and the file commands,
:mod:`stanzalink.commands.files`) into one registry, the agent's.  Every
command declares its role; what reads the device reads /proc and /sys
directly; what runs a program runs it without a shell (except ``shell``,
which is off unless ``[console] shell = true``), with a timeout and an
output limit (:mod:`stanzalink.commands.process`).  What a command needs
from the rest of the device it gets from ``inv.device``
(:class:`~stanzalink.commands.context.Device`).
"""

from __future__ import annotations

import functools
import ipaddress
import platform
import re
from pathlib import Path
from typing import Any

from stanzalink import __version__
from stanzalink.access import Role
from stanzalink.commands import authz, files
from stanzalink.commands.configure import config_command
from stanzalink.commands.context import Device
from stanzalink.commands.model import Arg, Command, CommandError, Invocation, KeyValue, Table, Text
from stanzalink.commands.process import outcome, run_process
from stanzalink.commands.registry import Registry
from stanzalink.commands.settings import Settings
from stanzalink.commands.system import System, human_bytes, human_seconds
from stanzalink.logsafe import escape_controls

SYSTEM = System()  # reads only: /proc and /sys of this machine
_HOST = re.compile(
    r"(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)
LEVELS = ("debug", "info", "warning", "error")
_JOURNAL_PRIORITY = {"debug": "7", "info": "6", "warning": "4", "error": "3"}
_LEVEL_WORD = re.compile(r"\b(DEBUG|INFO|NOTICE|WARN|WARNING|ERR|ERROR|CRIT|CRITICAL)\b")
_RANK = {"DEBUG": 0, "INFO": 1, "NOTICE": 1, "WARN": 2, "WARNING": 2}


def settings(device: Device) -> Settings:
    """The ``[console]`` settings as they are now (``config set`` changes them)."""
    return Settings.of(device.config.section("console"))


# ------------------------------------------------------------------ install
def install(registry: Registry) -> Registry:
    """Register the built-in commands into ``registry``."""
    reg = registry.command

    @reg(
        "help",
        help="list the commands, or explain one",
        args=[Arg("command", str, "the command to explain", default="")],
        read_only=True,
    )
    def help_(inv: Invocation) -> list[Any]:
        return help_text(registry, inv.role, inv.device, inv.args["command"])

    @reg("status", help="uptime, load, memory, disk, network, temperatures", read_only=True)
    def status(inv: Invocation) -> list[Any]:
        return status_report(inv)

    @reg("version", help="software and hardware versions", read_only=True)
    def version(inv: Invocation) -> KeyValue:
        from stanzalink.xml import _native

        return KeyValue(
            [
                ("stanzalink", __version__),
                ("parser", "native (C)" if _native.AVAILABLE else "expat (pure Python)"),
                ("python", f"{platform.python_implementation()} {platform.python_version()}"),
                ("system", SYSTEM.os_release() or "unknown"),
                ("kernel", SYSTEM.kernel()),
                ("model", SYSTEM.model()),
            ]
        )

    @reg(
        "log",
        help="the last lines of the device log",
        role=Role.OPERATOR,
        read_only=True,
        args=[
            Arg("lines", int, "how many lines", default=20, minimum=1, maximum=1000),
            Arg("level", str, "the least level shown", default="info", choices=LEVELS),
        ],
    )
    async def log_(inv: Invocation) -> list[Any]:
        return await read_log(inv)

    @reg(
        "config",
        help="show or change a running setting (those listed in [console] settable)",
        role=Role.OPERATOR,
        read_only=lambda args: args.get("action", "get") == "get",
        args=[
            Arg("action", str, "get or set", default="get", choices=("get", "set")),
            Arg("key", str, "section.key, e.g. presence.status", default=""),
            Arg("value", str, "the new value (set)", default="", rest=True),
        ],
    )
    def config(inv: Invocation) -> Any:
        return config_command(inv)

    @reg(
        "ping",
        help="ping a host from the device",
        role=Role.OPERATOR,
        read_only=True,
        long_running=True,
        args=[
            Arg("host", str, "host name or IP address"),
            Arg("count", int, "how many echo requests", default=3, minimum=1, maximum=10),
        ],
    )
    async def ping(inv: Invocation) -> list[Any]:
        host = inv.args["host"]
        if not valid_host(host):
            raise CommandError(f"host: {host!r} is not a host name or IP address")
        count = inv.args["count"]
        timeout = count * 2 + 5
        argv = ["ping", "-n", "-c", str(count), "-W", "2", host]
        rc, out, truncated = await run_process(argv, timeout, 16384, inv.device.clock)
        return outcome("ping", rc, out, truncated, timeout)

    @reg("net", help="network interfaces, addresses, routes, name servers", read_only=True)
    def net(inv: Invocation) -> list[Any]:
        return net_report()

    @reg("who", help="controllers online now", read_only=True)
    def who(inv: Invocation) -> Any:
        return who_report(inv)

    @reg(
        "restart",
        help="restart the agent (the service manager starts it again)",
        role=Role.ADMIN,
        confirm="Restart the stanzalink agent now?",
    )
    def restart(inv: Invocation) -> str:
        code = settings(inv.device).restart_exit_code
        inv.device.clock.call_later(1.0, functools.partial(inv.device.request_stop, code))
        return f"restarting the agent (exit status {code})"

    @reg(
        "reboot",
        help="reboot the device",
        role=Role.ADMIN,
        confirm="Reboot the device now?",
    )
    async def reboot(inv: Invocation) -> list[Any]:
        argv = list(settings(inv.device).reboot_command)
        rc, out, truncated = await run_process(argv, 60, 16384, inv.device.clock)
        res = outcome(argv[0], rc, out, truncated, 60)
        return [f"rebooting: {' '.join(argv)} started", *res] if rc == 0 else res

    @reg(
        "shell",
        help="run a shell command line on the device",
        role=Role.ADMIN,
        long_running=True,
        args=[Arg("command", str, "the command line, as sh -c gets it", rest=True)],
        available=lambda device: settings(device).shell,
    )
    async def shell(inv: Invocation) -> list[Any]:
        sec = settings(inv.device)
        if not sec.shell:
            raise CommandError("the shell is switched off ([console] shell = false)")
        line = inv.line.split(None, 1)[1] if len(inv.line.split(None, 1)) > 1 else ""
        line = line or inv.args["command"]
        timeout, limit = sec.shell_timeout, sec.output_limit
        rc, out, truncated = await run_process(
            ["/bin/sh", "-c", line], timeout, limit, inv.device.clock
        )
        return outcome("shell", rc, out, truncated, timeout) or ["(no output)"]

    files.install(registry)
    return registry


# ------------------------------------------------------------------ help
CONSOLE_WORDS = [
    ("more", "the next page of a long answer"),
    ("cancel", "stop the commands still running"),
]


def help_text(registry: Registry, role: Role, device: Device, name: str) -> list[Any]:
    """The commands ``role`` may run here (or one of them, explained)."""
    visible = authz.runnable(registry, role, device)
    if name:
        decision = authz.decide(registry, name.lower(), role, device)
        if decision.kind == authz.NEEDS:
            assert decision.need is not None
            raise CommandError(authz.refusal(name.lower(), decision.need, role))
        if decision.command is None:
            raise CommandError(f"no command {name!r}; send help for the list")
        return [command_help(decision.command, device)]
    rows = [(c.usage(), c.help) for c in visible] + CONSOLE_WORDS
    return [
        Table(["command", "what it does"], rows, title=f"Commands for role {role}"),
        "Send help COMMAND for details.",
    ]


def command_help(cmd: Command, device: Device | None = None) -> KeyValue:
    pairs: list[tuple[str, Any]] = [("usage", cmd.usage())]
    if cmd.help:
        pairs.append(("does", cmd.help))
    for a in cmd.args:
        kind = {int: "a whole number", float: "a number", bool: "yes or no"}.get(a.type, "text")
        bits = [a.help] if a.help else []
        bits.append(kind)
        if a.choices:
            bits.append("one of " + ", ".join(map(str, a.choices)))
        if a.minimum is not None or a.maximum is not None:
            lo = "" if a.minimum is None else f"{a.minimum:g}"
            hi = "" if a.maximum is None else f"{a.maximum:g}"
            bits.append(f"{lo}..{hi}")
        if not a.required and a.default not in ("", None):
            bits.append(f"default {a.default}")
        if a.rest:
            bits.append("the rest of the line")
        pairs.append((a.name, "; ".join(bits)))
    if cmd.confirm:
        pairs.append(("confirm", "asks before it runs"))
    if cmd.long_running:
        pairs.append(("note", "may take a while; cancel stops it"))
    pairs.append(("role", str(cmd.need(device))))
    return KeyValue(pairs, title=cmd.name)


# ------------------------------------------------------------------ reports
def status_report(inv: Invocation) -> list[Any]:
    pairs: list[tuple[str, Any]] = [("device", str(inv.device.jid))]
    pairs.append(("host", SYSTEM.hostname()))
    up = SYSTEM.uptime()
    if up is not None:
        pairs.append(("uptime", human_seconds(up)))
    load = SYSTEM.load()
    if load is not None:
        pairs.append(("load", " ".join(f"{x:.2f}" for x in load)))
    mem = SYSTEM.memory()
    if "MemTotal" in mem:
        avail = mem.get("MemAvailable", mem.get("MemFree", 0))
        pairs.append(
            (
                "memory",
                f"{human_bytes(mem['MemTotal'] - avail)} used of {human_bytes(mem['MemTotal'])}",
            )
        )
    for path in settings(inv.device).disk_paths:
        d = SYSTEM.disk(path)
        if d is not None:
            total, free = d
            pct = 100 * (total - free) / total if total else 0
            pairs.append(
                (
                    f"disk {path}",
                    f"{human_bytes(free)} free of {human_bytes(total)} ({pct:.0f} % used)",
                )
            )
    for kind, temp in SYSTEM.temperatures():
        pairs.append((f"temp {kind}", f"{temp:.1f} °C"))
    out: list[Any] = [KeyValue(pairs, title="status")]
    addrs = SYSTEM.addresses()
    rows = [(n, ", ".join(addrs.get(n, [])) or "-") for n, _rx, _tx in SYSTEM.interfaces()]
    if rows:
        out.append(Table(["interface", "addresses"], rows))
    return out


def net_report() -> list[Any]:
    addrs = SYSTEM.addresses()
    out: list[Any] = []
    ifaces = [
        (n, ", ".join(addrs.get(n, [])) or "-", human_bytes(rx), human_bytes(tx))
        for n, rx, tx in SYSTEM.interfaces()
    ]
    if ifaces:
        out.append(Table(["interface", "addresses", "rx", "tx"], ifaces, title="interfaces"))
    routes = SYSTEM.routes()
    if routes:
        out.append(
            Table(
                ["destination", "gateway", "interface"],
                [(d, g or "-", i) for i, d, g, _f in routes],
                title="routes",
            )
        )
    ns = SYSTEM.nameservers()
    if ns:
        out.append(KeyValue([("name servers", ", ".join(ns))]))
    return out or ["no network information available"]


def who_report(inv: Invocation) -> Any:
    """The roster feature's presence table when it runs (role, show and
    status of every online resource), else the presences the console saw."""
    roster = inv.device.roster()
    rows: list[tuple[str, ...]] = []
    if roster is not None:
        for jid, role in roster.online_controllers().items():
            p = roster.presence(jid)
            show = (p.show or "available") if p is not None else "available"
            status = p.status if p is not None else ""
            rows.append((str(jid), str(role), show, status))
        columns = ["controller", "role", "show", "status"]
    else:
        rows = [(str(j), str(r)) for j, r in inv.device.controllers_seen().items()]
        columns = ["controller", "role"]
    if not rows:
        return "no controller is online (that the device can see)"
    return Table(columns, sorted(rows), title="online")


# ------------------------------------------------------------------ log
async def read_log(inv: Invocation) -> list[Any]:
    sec = settings(inv.device)
    n, level = inv.args["lines"], inv.args["level"]
    if sec.log_source == "journal":
        argv = [
            "journalctl",
            "--no-pager",
            "-o",
            "short-iso",
            "-n",
            str(n),
            "-p",
            _JOURNAL_PRIORITY[level],
        ]
        if sec.journal_unit:
            argv += ["-u", sec.journal_unit]
        rc, out, truncated = await run_process(argv, 15, 262144, inv.device.clock)
        out = escape_controls(out, keep_newlines=True)
        return outcome("journalctl", rc, out, truncated, 15) or ["(the journal is empty)"]
    path = sec.log_file
    if not path:
        recent = inv.device.recent_log
        if recent is None:
            raise CommandError('no log configured ([console] log_file or log_source = "journal")')
        kept = filter_level(recent.lines(), level)[-n:]
        if not kept:
            return [f"no {level} lines since the agent started"]
        return [Text("\n".join(kept), preformatted=True)]
    # escaped again here: a file that another program (or an older agent)
    # wrote may hold a peer's control characters
    lines = [escape_controls(ln) for ln in filter_level(tail(Path(path), 20 * n + 200), level)[-n:]]
    if not lines:
        return [f"no {level} lines in {path}"]
    return [Text("\n".join(lines), preformatted=True)]


def tail(path: Path, lines: int, max_bytes: int = 1 << 20) -> list[str]:
    """The last ``lines`` lines of a file, reading at most ``max_bytes``."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            end = fh.tell()
            start = max(0, end - max_bytes)
            fh.seek(start)
            data = fh.read()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    text = data.decode(errors="replace").split("\n")
    if start > 0:
        text = text[1:]  # a partial first line
    if text and text[-1] == "":
        text.pop()
    return text[-lines:]


def filter_level(lines: list[str], level: str) -> list[str]:
    """Lines at ``level`` or above (a line without a level word goes with
    the line before it: tracebacks stay whole)."""
    least = LEVELS.index(level)
    if least == 0:
        return lines
    out: list[str] = []
    keep = False
    for ln in lines:
        m = _LEVEL_WORD.search(ln)
        if m is not None:
            keep = _RANK.get(m.group(1), 3) >= least
        if keep:
            out.append(ln)
    return out


def valid_host(host: str) -> bool:
    """An IP address or an RFC 1123 host name (never an option, never a path)."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    return bool(_HOST.fullmatch(host)) and not host.startswith("-")


__all__ = ["command_help", "help_text", "install", "valid_host"]
