"""The ``stanzalink`` command's argparse parser: every command, its help
and its epilog.  :func:`stanzalink.cli.main` builds it for everything but
the common forms of ``run`` (:func:`stanzalink.cli.run_args`), so that a
running agent never holds argparse (and gettext)."""

from __future__ import annotations

import argparse
import os
import sys

from stanzalink import __version__
from stanzalink.cli.config_commands import cmd_check_config, cmd_example_config
from stanzalink.cli.dump import cmd_dump
from stanzalink.cli.http import cmd_http
from stanzalink.cli.run import cmd_run

__all__ = [
    "AGENT_COMMANDS",
    "HelpFormatter",
    "RawDescriptionHelpFormatter",
    "build_parser",
    "cmd_dump",
    "cmd_http",
    "parser_for",
]


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
  WATCHDOG_USEC  WATCHDOG=1 from the event loop, on the connection's own wake-ups
                 (at most every WATCHDOG_USEC/64), else every WATCHDOG_USEC/2
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


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns`` without importing ``shutil``
    (with ``bz2``, ``lzma`` and ``fnmatch``, half a MiB a running agent
    would hold): ``COLUMNS``, else the terminal on stdout, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Width:
    """argparse's formatters import ``shutil`` for the width when a parser
    is built (``add_argument`` makes a formatter); this mixin gives them the
    same width without it."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        if width is None:
            width = _terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)  # type: ignore[call-arg]


class HelpFormatter(_Width, argparse.HelpFormatter):
    """argparse's default formatter, its width found without ``shutil``."""


class RawDescriptionHelpFormatter(_Width, argparse.RawDescriptionHelpFormatter):
    """argparse's formatter that keeps the line breaks of descriptions and
    epilogs, its width found without ``shutil``."""


# the commands whose parsing needs no fleet parser (whose module loads the
# controller's whole client)
AGENT_COMMANDS = ("run", "check-config", "example-config", "dump", "http")


def build_parser(fleet: bool = True) -> argparse.ArgumentParser:
    """The ``stanzalink`` parser; without ``fleet``, the fleet subcommand is
    left out (its module is not imported)."""
    raw = RawDescriptionHelpFormatter
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
        formatter_class=HelpFormatter,
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
    if fleet:
        from stanzalink.fleet.cli import add_parser as add_fleet

        add_fleet(sub, _seconds)
        from stanzalink.cli.simulate import add_parser as add_simulate

        add_simulate(sub, _seconds)
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


def parser_for(argv: list[str]) -> argparse.ArgumentParser:
    """The parser ``argv`` needs: the agent's commands do without the fleet
    subcommand (``stanzalink --help`` and ``stanzalink fleet`` have it)."""
    return build_parser(fleet=not argv or argv[0] not in AGENT_COMMANDS)
