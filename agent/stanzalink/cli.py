"""The ``stanzalink`` command."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, BinaryIO

from stanzalink import __version__

if TYPE_CHECKING:
    import logging

    from stanzalink.agent import Agent
    from stanzalink.aio.sdnotify import Notifier
    from stanzalink.logring import RecentLines


def _chunks(stream: BinaryIO, size: int) -> Iterator[bytes]:
    read = getattr(stream, "read1", stream.read)
    while True:
        data = read(size)
        if not data:
            return
        # read1 may return less than asked; --chunk promises exactly N-byte feeds
        while len(data) > size:
            yield data[:size]
            data = data[size:]
        yield data


def cmd_dump(args: argparse.Namespace) -> int:
    from stanzalink.xml import (
        StanzaSkipped,
        StreamClose,
        StreamError,
        StreamOpen,
        StreamParser,
        tostring,
    )

    try:
        parser = StreamParser(backend=args.backend)
    except Exception as exc:
        print(f"stanzalink dump: {exc}", file=sys.stderr)
        return 2
    out = sys.stdout

    def emit(events: Sequence[object]) -> None:
        for ev in events:
            if isinstance(ev, StreamOpen):
                out.write("open " + json.dumps(ev.attrib, ensure_ascii=False) + "\n")
            elif isinstance(ev, StreamClose):
                out.write("close\n")
            elif isinstance(ev, StanzaSkipped):
                # a stanza over a parser limit, dropped: the stream goes on
                skipped = {"limit": ev.limit, "tag": ev.tag, "attrib": ev.attrib}
                out.write("skip " + json.dumps(skipped, ensure_ascii=False, sort_keys=True) + "\n")
            else:
                out.write("stanza " + tostring(ev, oneline=True).decode() + "\n")  # type: ignore[arg-type]

    source: BinaryIO
    if args.file in (None, "-"):
        source = sys.stdin.buffer
    else:
        try:
            source = open(args.file, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            print(f"stanzalink dump: {exc}", file=sys.stderr)
            return 2
    try:
        for chunk in _chunks(source, args.chunk):
            try:
                emit(parser.feed(chunk))
            except StreamError as err:
                emit(err.events)
                out.write(f"error {err.condition}\n")
                out.flush()
                print(f"stanzalink dump: {err}", file=sys.stderr)
                return 1
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    out.flush()
    return 0


def example_config() -> str:
    """The example device config shipped in the package (examples/device.toml)."""
    from importlib.resources import files

    return files("stanzalink").joinpath("data", "device.toml").read_text(encoding="utf-8")


def cmd_example_config(args: argparse.Namespace) -> int:
    sys.stdout.write(example_config())
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    from stanzalink.agent import load_config
    from stanzalink.config import ConfigError

    try:
        cfg = load_config(args.file)
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


def _unix_socket_refusal(path: str) -> OSError | None:
    """Why a syslog socket at ``path`` cannot be reached, or None."""
    import socket

    refusal: OSError | None = None
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_UNIX, kind) as sock:
            try:
                sock.connect(path)
            except OSError as exc:
                refusal = refusal or exc
            else:
                return None
    return refusal


def run_log_handler(syslog: str | None = None) -> tuple[logging.Handler, OSError | None]:
    """The handler of the agent's log: stderr (systemd's journal takes it),
    or the syslog socket at ``syslog`` (a SysV image: busybox syslogd
    writes /var/log/messages); with it, why that syslog could not be
    reached (then the handler is stderr's).  Either way its lines escape
    what peers supply (:class:`stanzalink.logsafe.SafeFormatter`)."""
    import logging
    import logging.handlers

    from stanzalink.logsafe import SafeFormatter

    if syslog is not None:
        # SysLogHandler itself ignores a socket it cannot reach (and then
        # prints a traceback per record): tried here first
        failed = _unix_socket_refusal(syslog)
        if failed is None:
            handler = logging.handlers.SysLogHandler(
                address=syslog, facility=logging.handlers.SysLogHandler.LOG_DAEMON
            )
            # syslog adds the time; the tag and pid name the program
            handler.setFormatter(
                SafeFormatter(f"stanzalink[{os.getpid()}]: %(levelname)s %(name)s: %(message)s")
            )
            return handler, None
    else:
        failed = None
    stderr = logging.StreamHandler()
    stderr.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return stderr, failed


def setup_run_logging(level: int, syslog: str | None = None) -> RecentLines:
    """The agent's log (:func:`run_log_handler`).  Without a syslog
    listening at ``syslog``, stderr, with a warning saying so.  The recent
    lines are also kept in memory, for the console's ``log``."""
    import logging

    from stanzalink.logring import RecentLines

    handler, failed = run_log_handler(syslog)
    recent = RecentLines()
    logging.basicConfig(level=level, handlers=[handler, recent])
    if failed is not None:
        logging.getLogger("stanzalink").warning(
            "no syslog at %s (%s): logging to stderr", syslog, failed.strerror or failed
        )
    return recent


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from stanzalink.agent import Agent, load_config
    from stanzalink.config import ConfigError

    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"stanzalink: {args.config}: {exc}", file=sys.stderr)
        return 1
    recent = setup_run_logging(
        getattr(logging, (args.log_level or cfg.section("log")["level"]).upper()), args.syslog
    )
    from stanzalink.errors import StanzalinkError

    if not any(cfg.access.values()):
        logging.getLogger("stanzalink").warning(
            "%s: [access] names no controllers: nobody can reach the device", args.config
        )

    try:
        agent = Agent(cfg, recent_log=recent)
    except StanzalinkError as exc:  # e.g. http.wsgi_app that cannot be imported
        print(f"stanzalink: {args.config}: {exc}", file=sys.stderr)
        return 1
    from stanzalink import __version__

    c = agent.client.config
    logging.getLogger("stanzalink").info(
        "stanzalink %s starting: config %s, account %s, parser %s, server %s",
        __version__,
        args.config,
        cfg.jid,
        agent.client.session._parser.backend,
        f"{c.host}:{c.port} ([server] host)"
        if c.host
        else f"found by SRV lookup of {c.jid.domain} (no [server] host)",
    )
    from stanzalink.aio.sdnotify import Notifier

    # a service manager that starts the agent again after `restart`: systemd
    # (INVOCATION_ID, NOTIFY_SOCKET) or the SysV script (STANZALINK_SUPERVISED)
    supervised = any(
        os.environ.get(v) for v in ("INVOCATION_ID", "NOTIFY_SOCKET", "STANZALINK_SUPERVISED")
    )
    # systemd's Type=notify: READY, STATUS, WATCHDOG, STOPPING (docs/quickstart.md)
    notifier = Notifier.from_environ(unset=True)
    try:
        asyncio.run(run_agent(agent, notifier))
    except KeyboardInterrupt:  # before the agent's own signal handlers were set
        return 130
    restart = cfg.section("console")["restart_exit_code"]
    if agent.exit_code == restart and not supervised:
        logging.getLogger("stanzalink").warning(
            "restart asked for, and no service manager runs this agent (no systemd, no "
            "init script) to start it again: starting again in place"
        )
        logging.shutdown()
        os.execv(sys.executable, [sys.executable, "-m", "stanzalink", *sys.argv[1:]])
    return agent.exit_code


async def run_agent(agent: Agent, notifier: Notifier | None) -> None:
    """Run the agent and, when the service manager asked for it, tell it that
    the agent is up, what it is doing, that its event loop still turns (the
    watchdog timer runs on that loop), and when a requested stop begins.

    READY=1 comes when the connection loop starts, not when the login
    succeeds: a device without network is up and retrying, and systemd must
    not count that as a failed start."""
    import asyncio

    from stanzalink.session.events import Closed, Online

    if notifier is None:
        await agent.run()
        return

    def on_event(ev: object) -> None:
        if isinstance(ev, Online):
            notifier.status(f"online as {ev.jid}")
        elif isinstance(ev, Closed):
            notifier.status(f"offline: {ev.text}")

    agent.client.on_event(on_event)
    stop = asyncio.Event()
    run = asyncio.ensure_future(agent.run(stop))
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.sleep(0)  # agent.run has started the connection loop
        if not run.done():
            notifier.ready(f"connecting as {agent.cfg.jid}")
            notifier.start_watchdog()
        await asyncio.wait({run, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if stopped.done() and not run.done():
            notifier.stopping("stopping")
        await run
    finally:
        stopped.cancel()
        notifier.close()


def cmd_http(args: argparse.Namespace) -> int:
    """XEP-0332 request as a controller; prints the response like curl -i."""
    import asyncio
    import logging
    import os

    from stanzalink.agent import client_config, load_config
    from stanzalink.aio.client import Client, ConnectionFailed
    from stanzalink.config import ConfigError
    from stanzalink.fleet.http_client import HttpClient, HttpTransportError
    from stanzalink.jid import JID, InvalidJID
    from stanzalink.logsafe import SafeFormatter

    # the outcome is one line on stderr; -v shows the connection's log as well
    stderr = logging.StreamHandler()
    stderr.setFormatter(SafeFormatter("stanzalink http: %(message)s"))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.CRITICAL, handlers=[stderr])
    try:
        device = JID.parse(args.jid)
    except InvalidJID as exc:
        print(f"stanzalink http: {args.jid!r} is not a JID: {exc}", file=sys.stderr)
        return 2
    if device.resource is None:
        print(
            f"stanzalink http: {args.jid} is a bare JID; give the device's full JID "
            f"({args.jid}/RESOURCE: the resource in its [account], or ask its console "
            "for 'status')",
            file=sys.stderr,
        )
        return 2
    if not (args.path.startswith("/") or args.path == "*"):
        print(f"stanzalink http: PATH {args.path!r} must start with /", file=sys.stderr)
        return 2
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"stanzalink: {args.config}: {exc}", file=sys.stderr)
        return 2
    headers: list[tuple[str, str]] = []
    for item in args.header:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            print(f"stanzalink http: --header {item!r}: expected NAME:VALUE", file=sys.stderr)
            return 2
        headers.append((name.strip(), value.strip()))
    body = b""
    if args.data is not None:
        if args.data == "@-":
            body = sys.stdin.buffer.read()
        elif args.data.startswith("@"):
            try:
                with open(args.data[1:], "rb") as fh:
                    body = fh.read()
            except OSError as exc:
                print(f"stanzalink http: --data {args.data}: {exc}", file=sys.stderr)
                return 2
        else:
            body = args.data.encode()
    ccfg = client_config(cfg)
    ccfg.resource = cfg.section("account")["resource"] or "http-" + os.urandom(4).hex()
    ccfg.reconnect = False
    ccfg.csi_inactive = False
    out = sys.stdout.buffer

    async def run() -> int:
        client = Client(ccfg)
        try:
            await client.start()
            await client.wait_online(args.timeout)
            http = HttpClient(client, timeout=args.timeout, chunk_timeout=args.timeout)
            resp = await http.request(str(device), args.method.upper(), args.path, headers, body)
            head = [f"HTTP/{resp.version} {resp.status} {resp.reason}".rstrip()]
            head += [f"{k}: {v}" for k, v in resp.headers]
            out.write(("\r\n".join(head) + "\r\n\r\n").encode("utf-8", "replace"))
            async for part in resp.body_stream:
                out.write(part)
            out.flush()
            return 0
        except BrokenPipeError:  # | head: the reader has seen enough
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except (ConnectionFailed, HttpTransportError, TimeoutError, ValueError) as exc:
            out.flush()
            hint = ""
            if getattr(exc, "condition", None) == "service-unavailable" and device.resource:
                # the device answers a sender it does not admit like an absent one
                hint = f" (is the device online as {device}, and is {cfg.jid} in its [access]?)"
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                hint = " (a private CA? name it in [server] ca_file)"
            print(f"stanzalink http: {exc or type(exc).__name__}{hint}", file=sys.stderr)
            return 1
        finally:
            await client.close()

    return asyncio.run(run())


# where the keys and the guides are (the Debian package installs the guides)
DOCS = (
    "Every config key, its default and meaning: stanzalink example-config.\n"
    "The guides: /usr/share/doc/stanzalink/docs/ (Debian package), or docs/*.md\n"
    "in the stanzalink source tree."
)

EPILOG_MAIN = f"""\
examples:
  stanzalink check-config /etc/stanzalink/device.toml
  stanzalink run --config /etc/stanzalink/device.toml
  stanzalink http device1@example.net/agent GET /api/status --config controller.toml
  stanzalink dump --chunk 1 examples/streams/server-session.xml

'stanzalink COMMAND --help' describes each command.
{DOCS}
"""

EPILOG_RUN = f"""\
exit status:
  0    stopped by SIGTERM or SIGINT (systemctl stop)
  1    the config is wrong (the message names the key) or a feature cannot start
  N    [console] restart_exit_code (default 75): "restart" typed in the console;
       the service manager starts the agent again
  130  interrupted before the agent was running

A refused login is retried with backoff, not fatal: the account may be fixed
on the server while the device waits.

environment (set by systemd for a Type=notify unit, as packaging/stanzalink.service is):
  NOTIFY_SOCKET  READY=1 when the connection loop starts, STATUS= (online or
                 why not), STOPPING=1 on a requested stop
  WATCHDOG_USEC  WATCHDOG=1 every WATCHDOG_USEC/2 from the event loop
{DOCS}
"""

EPILOG_CHECK = f"""\
exit status: 0 valid, 1 wrong (the message names the key, e.g.
"http.chunk_size: must be between 256 and 65536 bytes").
Files the config names are loaded as run loads them (password_file, ca_file,
client_cert with client_key, identity.photo; the folder of scram_keys_file): a
file that run could not use fails here. Run it on the device, or as the unit's
ExecStartPre.
{DOCS}
"""

EPILOG_HTTP = """\
examples:
  stanzalink http device1@example.net/agent GET /api/status --config controller.toml
  stanzalink http device1@example.net/agent POST /api/items \\
      -H 'Content-Type: application/json' -d '{"name": "x"}' --config controller.toml
  tar cz conf | stanzalink http device1@example.net/agent PUT /api/backup -d @- \\
      --config controller.toml

controller.toml needs only [account] (jid, password) and, for a server without
SRV records, [server] (host, port, ca_file).  The controller's account must be
listed in the device's [access] with the role the path needs ([http] paths).

exit status: 0 any HTTP status, 1 the request did not get through (refused,
not online, timed out, broken off), 2 a bad argument or config.
See docs/http.md in the stanzalink source tree.
"""


def build_parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(
        prog="stanzalink",
        description="Put an embedded Linux device on XMPP.",
        epilog=EPILOG_MAIN,
        formatter_class=raw,
    )
    p.add_argument("--version", action="version", version=f"stanzalink {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    d = sub.add_parser(
        "dump",
        help="print the events of a server-to-client XMPP byte stream",
        description=(
            "Read a server-to-client XMPP byte stream (stdin when no FILE) and print one "
            "line per event: 'open {attributes as JSON}', 'stanza <xml>', 'close', and "
            '\'skip {"attrib": ..., "limit": ..., "tag": ...}\' for a stanza that '
            "crossed a parser limit (max_stanza_bytes, max_depth, max_attrs, max_name_len) "
            "and was dropped. On a stream error print 'error <condition>' and exit with "
            "status 1."
        ),
        epilog=(
            "example:\n  stanzalink dump --backend expat --chunk 7 "
            "examples/streams/server-session.xml\n\n"
            "exit status: 0 the stream parsed, 1 a stream error, 2 a file or backend problem"
        ),
        formatter_class=raw,
    )
    d.add_argument("file", nargs="?", metavar="FILE", help="the stream; - or none for stdin")
    d.add_argument(
        "--backend", choices=["native", "expat"], default=None, help="parser (default: native)"
    )
    d.add_argument(
        "--chunk",
        type=_positive,
        default=4096,
        metavar="N",
        help="feed N bytes at a time (default 4096)",
    )
    d.set_defaults(func=cmd_dump)

    r = sub.add_parser(
        "run",
        help="run the device agent",
        description=(
            "Run the device agent: connect to the XMPP server as [account] jid, stay "
            "online, reconnect when the connection drops, and serve the controllers "
            "listed in [access]."
        ),
        epilog=EPILOG_RUN,
        formatter_class=raw,
    )
    r.add_argument("--config", required=True, metavar="FILE", help="the device's TOML config")
    r.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default=None,
        help="overrides [log] level (default: info)",
    )
    r.add_argument(
        "--syslog",
        nargs="?",
        const="/dev/log",
        default=None,
        metavar="SOCKET",
        help="log to syslog (default socket /dev/log) instead of stderr; for init "
        "systems that keep no output, such as the SysV script",
    )
    r.set_defaults(func=cmd_run)

    c = sub.add_parser(
        "check-config",
        help="validate a config file without connecting",
        description="Validate a device config without connecting: every key and value.",
        epilog=EPILOG_CHECK,
        formatter_class=raw,
    )
    c.add_argument("file", metavar="FILE", help="the device's TOML config")
    c.set_defaults(func=cmd_check_config)

    e = sub.add_parser(
        "example-config",
        help="print the commented example config (every key, its default and meaning)",
        description=(
            "Print the example device config shipped with the package: every key with "
            'its default and meaning; lines whose comment starts with "example:" hold '
            "values to adapt. Start a config with: "
            "stanzalink example-config > /etc/stanzalink/device.toml"
        ),
    )
    e.set_defaults(func=cmd_example_config)

    h = sub.add_parser(
        "http",
        help="send an HTTP request to a device over XMPP (XEP-0332)",
        description=(
            "Send an HTTP request to a device's HTTP service over XMPP (XEP-0332) from the "
            "controller account in --config. Prints the response like curl -i: status "
            "line, headers, blank line, body."
        ),
        epilog=EPILOG_HTTP,
        formatter_class=raw,
    )
    h.add_argument("jid", metavar="JID", help="the device's full JID (device1@example.net/agent)")
    h.add_argument("method", metavar="METHOD", help="GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
    h.add_argument("path", metavar="PATH", help="the resource, e.g. /api/status?verbose=1")
    h.add_argument(
        "--header",
        "-H",
        action="append",
        default=[],
        metavar="K:V",
        help="a request header (repeat for more)",
    )
    h.add_argument("--data", "-d", metavar="DATA", help="the request body, @FILE, or @- for stdin")
    h.add_argument("--config", required=True, metavar="FILE", help="the controller's TOML config")
    h.add_argument("--verbose", "-v", action="store_true", help="log the connection on stderr")
    h.add_argument(
        "--timeout", type=_seconds, default=30.0, metavar="S", help="seconds (default 30)"
    )
    h.set_defaults(func=cmd_http)
    from stanzalink.fleet.cli import add_parser as add_fleet

    add_fleet(sub, _seconds)
    return p


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number of bytes")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rc: int = args.func(args)
    return rc


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
