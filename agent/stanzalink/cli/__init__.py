"""The ``stanzalink`` command: :func:`main`; its parser in :mod:`.parser`,
each command's work in a module of its own (:mod:`.run`;
:mod:`.config_commands`: check-config, example-config; :mod:`.dump`;
:mod:`.http`; :mod:`.simulate`; the fleet tool in
:mod:`stanzalink.fleet.cli`).

Every device starts the agent as ``stanzalink run --config FILE`` and keeps
the process for as long as it runs: those forms of ``run`` are read here
(:func:`run_args`) without argparse, which with gettext and the other
commands' modules would stay in the agent's memory for nothing.  Any other
command line goes to the argparse parser, which gives its help, errors and
exit statuses."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING

# the commands' functions stay importable from here, as they were
from stanzalink.cli.run import (
    cmd_run,
    run_agent,
    run_log_handler,
    setup_run_logging,
)

if TYPE_CHECKING:
    import argparse

    from stanzalink.cli.config_commands import (  # noqa: F401 (from __getattr__ below)
        cmd_check_config,
        cmd_example_config,
        example_config,
    )
    from stanzalink.cli.parser import (  # noqa: F401 (from __getattr__ below)
        AGENT_COMMANDS,
        HelpFormatter,
        RawDescriptionHelpFormatter,
        _terminal_columns,
        build_parser,
        cmd_dump,
        cmd_http,
        parser_for,
    )

__all__ = [
    "build_parser",
    "example_config",
    "main",
    "parse_args",
    "run_agent",
    "run_args",
    "run_log_handler",
    "setup_run_logging",
]

# what the config commands' module gives, loaded when one is first asked for
_CONFIG_NAMES = frozenset({"cmd_check_config", "cmd_example_config", "example_config"})
# what the parser module gives, loaded when one of them is first asked for
_PARSER_NAMES = frozenset(
    {
        "AGENT_COMMANDS",
        "DOCS",
        "EPILOG_CHECK",
        "EPILOG_HTTP",
        "EPILOG_MAIN",
        "EPILOG_RUN",
        "HelpFormatter",
        "RawDescriptionHelpFormatter",
        "_positive",
        "_seconds",
        "_terminal_columns",
        "build_parser",
        "cmd_dump",
        "cmd_http",
        "parser_for",
    }
)


def __getattr__(name: str) -> object:
    """The parser's names (:func:`build_parser`, :func:`parser_for`, the
    formatters, ``cmd_dump``, ``cmd_http``) and the config commands'
    (:func:`example_config`, ``cmd_check_config``, ``cmd_example_config``),
    kept here for callers that import them from this module; :mod:`.parser`
    or :mod:`.config_commands` loads when one of its names is first asked
    for."""
    if name in _PARSER_NAMES:
        from stanzalink.cli import parser

        return getattr(parser, name)
    if name in _CONFIG_NAMES:
        from stanzalink.cli import config_commands

        return getattr(config_commands, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# `run`'s options, as its argparse parser declares them
_RUN_OPTIONS = ("--config", "--log-level", "--syslog")
_LEVELS = ("debug", "info", "warning", "error")
_SYSLOG_CONST = "/dev/log"


def _plain(word: str) -> bool:
    """``word`` is an argument to argparse whatever the parser's options
    (neither empty nor starting with ``-``)."""
    return word[:1] not in ("", "-")


def run_args(argv: Sequence[str]) -> SimpleNamespace | None:
    """What the argparse parser makes of ``argv`` when it is ``run`` with
    ``--config FILE`` and optionally ``--log-level LEVEL`` and ``--syslog
    [SOCKET]``, each written out in full, as one word with ``=`` or as two
    (the last of a repeated option wins); None for anything else (help,
    another command, an abbreviation, ``--``, a missing, empty or bad value,
    a value that starts with ``-``), which the parser decides."""
    if not argv or argv[0] != "run":
        return None
    values: dict[str, str] = {}
    i, n = 1, len(argv)
    while i < n:
        option, eq, value = argv[i].partition("=")
        if option not in _RUN_OPTIONS:
            return None
        i += 1
        if eq:
            if not _plain(value):
                return None
        elif i < n and _plain(argv[i]):
            value = argv[i]
            i += 1
        elif option == "--syslog" and (i == n or argv[i].partition("=")[0] in _RUN_OPTIONS):
            # nargs='?': no value when the next word is an option (or none)
            value = _SYSLOG_CONST
        else:
            return None
        if option == "--log-level" and value not in _LEVELS:
            return None
        values[option] = value
    if "--config" not in values:
        return None
    return SimpleNamespace(
        command="run",
        config=values["--config"],
        log_level=values.get("--log-level"),
        syslog=values.get("--syslog"),
        func=cmd_run,
    )


def parse_args(argv: list[str]) -> argparse.Namespace | SimpleNamespace:
    """``argv`` (the words after the program's name) read as the argparse
    parser reads them: by :func:`run_args` when it can, else by the parser
    (which exits on ``--help``, ``--version`` and errors)."""
    args = run_args(argv)
    if args is not None:
        return args
    from stanzalink.cli.parser import parser_for

    return parser_for(argv).parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    rc: int = args.func(args)
    return rc


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
