"""`stanzalink run`'s common command lines are read without argparse
(:func:`stanzalink.cli.run_args`): what they give is what argparse gives,
and any other command line is left to argparse."""

from __future__ import annotations

import contextlib
import io
import itertools
import random
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from stanzalink.cli import cmd_run, parse_args, parser_for, run_args

from .util import agent_pythonpath, python_cmd


def by_argparse(argv: list[str]) -> dict[str, Any] | None:
    """The namespace argparse makes of ``argv`` (as a dict), None when it
    refuses it or prints help."""
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            return vars(parser_for(argv).parse_args(argv))
    except SystemExit:
        return None


def agrees_or_defers(argv: list[str]) -> bool:
    """``run_args(argv)`` is None or exactly what argparse makes of ``argv``;
    True when it did not defer."""
    fast = run_args(argv)
    if fast is None:
        return False
    assert vars(fast) == by_argparse(argv), argv
    return True


# the command lines the init systems and packages write, and their variants
READ_WITHOUT_ARGPARSE = [
    (["run", "--config", "/etc/stanzalink/device.toml"], "/etc/stanzalink/device.toml", None, None),
    (["run", "--config=/etc/s.toml"], "/etc/s.toml", None, None),
    (["run", "--config", "d.toml", "--log-level", "debug"], "d.toml", "debug", None),
    (["run", "--log-level=error", "--config=d.toml"], "d.toml", "error", None),
    (["run", "--config", "d.toml", "--syslog"], "d.toml", None, "/dev/log"),
    (["run", "--syslog", "--config", "d.toml"], "d.toml", None, "/dev/log"),
    (["run", "--syslog", "--config=d.toml"], "d.toml", None, "/dev/log"),
    (["run", "--syslog", "/run/log", "--config", "d.toml"], "d.toml", None, "/run/log"),
    (["run", "--config", "d.toml", "--syslog=/run/log"], "d.toml", None, "/run/log"),
    (["run", "--syslog", "--log-level", "info", "--config", "d"], "d", "info", "/dev/log"),
    (["run", "--syslog", "--syslog=/x", "--config", "d"], "d", None, "/x"),
    (["run", "--syslog=/x", "--syslog", "--config", "d"], "d", None, "/dev/log"),
    (["run", "--config", "a", "--config", "b"], "b", None, None),
    (["run", "--config=a", "--config", "b", "--config=c"], "c", None, None),
    (["run", "--log-level", "debug", "--log-level=warning", "--config", "d"], "d", "warning", None),
    (["run", "--config", "ü/désiré.toml"], "ü/désiré.toml", None, None),
    (["run", "--config=a=b"], "a=b", None, None),
    (["run", "--config", "a b", "--syslog", "s p"], "a b", None, "s p"),
    (["run", "--config", "run"], "run", None, None),
]


@pytest.mark.parametrize(("argv", "config", "level", "syslog"), READ_WITHOUT_ARGPARSE)
def test_the_common_forms_are_read_as_argparse_reads_them(
    argv: list[str], config: str, level: str | None, syslog: str | None
) -> None:
    fast = run_args(argv)
    assert fast is not None
    assert vars(fast) == {
        "command": "run",
        "config": config,
        "log_level": level,
        "syslog": syslog,
        "func": cmd_run,
    }
    assert vars(fast) == by_argparse(argv)


# left to argparse: its help, its errors, or a reading run_args does not attempt
LEFT_TO_ARGPARSE = [
    [],
    ["--help"],
    ["--version"],
    ["check-config", "d.toml"],
    ["dump"],
    ["fleet", "--help"],
    ["Run", "--config", "d"],
    ["run"],
    ["run", "-h"],
    ["run", "--help"],
    ["run", "--config", "d", "-h"],
    ["run", "--config"],  # the last word: a missing value
    ["run", "--config="],  # argparse: config ''
    ["run", "--config", ""],  # argparse: config ''
    ["run", "--config", "-"],
    ["run", "--config", "-1"],  # argparse: a negative number is a value
    ["run", "--config=-x"],
    ["run", "--config", "--syslog"],
    ["run", "--config", "--config=x"],
    ["run", "--syslog", "--config", "--config=d"],
    ["run", "--log-level", "debug"],  # --config is required
    ["run", "--config", "d", "--log-level"],
    ["run", "--config", "d", "--log-level", "DEBUG"],
    ["run", "--config", "d", "--log-level", "trace"],
    ["run", "--config", "d", "--log-level="],
    ["run", "--config", "d", "--syslog="],
    ["run", "--config", "d", "--syslog", ""],
    ["run", "--config", "d", "--syslog", "-"],
    ["run", "--config", "d", "--syslog", "-1"],
    ["run", "--config", "d", "--syslog", "--"],
    ["run", "--config", "d", "--"],
    ["run", "--", "--config", "d"],
    ["run", "--conf", "d"],  # argparse takes the abbreviation
    ["run", "--conf=d"],
    ["run", "--config", "d", "--log", "info"],
    ["run", "--config", "d", "--sys"],
    ["run", "-c", "d"],
    ["run", "--config", "d", "extra"],
    ["run", "--config", "d", "--syslog", "s", "extra"],
    ["run", "--config", "d", "--verbose"],
    ["run", "--config", "d", "--version"],
    ["run", "--config", "d", "-"],
    ["run", "\u2014config", "d"],  # an em dash
    ["run", "--\uff43onfig", "d"],  # a fullwidth c
    ["run", "--CONFIG", "d"],
    ["run", "--config", "d", "--log-level", "info\u200b"],
]


@pytest.mark.parametrize("argv", LEFT_TO_ARGPARSE, ids=repr)
def test_anything_else_is_left_to_argparse(argv: list[str]) -> None:
    assert run_args(argv) is None


# the words the combinations below are made of: the options, written out,
# with = and abbreviated, values, empty and dash-led words, and the words
# argparse gives a meaning of its own
WORDS = [
    "--config",
    "--config=",
    "--config=a",
    "--config=-x",
    "a",
    "",
    "-",
    "-1",
    "--",
    "--log-level",
    "--log-level=info",
    "info",
    "DEBUG",
    "--syslog",
    "--syslog=/s",
    "--syslog=",
    "--conf",
    "-h",
    "-c",
    "ü",
]


def test_every_short_combination_agrees_with_argparse_or_is_left_to_it() -> None:
    # every sequence of up to three words after `run`
    fast = sum(
        agrees_or_defers(["run", *words])
        for n in range(4)
        for words in itertools.product(WORDS, repeat=n)
    )
    assert fast > 50  # the test reads something


def test_longer_combinations_agree_with_argparse_or_are_left_to_it() -> None:
    rng = random.Random(20261205)
    fast = sum(
        agrees_or_defers(["run", *rng.choices(WORDS, k=rng.randint(4, 8))]) for _ in range(4000)
    )
    assert fast > 0


def test_parse_args_gives_argparse_what_run_args_leaves() -> None:
    assert vars(parse_args(["check-config", "d.toml"])) == by_argparse(["check-config", "d.toml"])
    assert parse_args(["run", "--config="]).config == ""
    assert parse_args(["run", "--conf", "d"]).config == "d"
    assert parse_args(["run", "--config", "d", "--syslog", ""]).syslog == ""


# a process that runs `stanzalink run` until the config is read (the config
# is not there), then says what it had loaded
LOADED = textwrap.dedent(
    """
    import sys
    from stanzalink.cli import main
    rc = main(sys.argv[1:])
    print(rc, " ".join(sorted(sys.modules)))
    """
)
ARGPARSE_AND_CO = ["argparse", "gettext", "stanzalink.cli.dump", "stanzalink.cli.http"]


def loaded_by(*argv: str) -> tuple[str, set[str]]:
    out = subprocess.run(
        [*python_cmd(), "-c", LOADED, *argv],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": agent_pythonpath()},
        timeout=60,
        check=True,
    )
    rc, modules = out.stdout.split(" ", 1)
    return rc, set(modules.split())


def test_run_reads_its_command_line_without_argparse(tmp_path: Path) -> None:
    missing = str(tmp_path / "none.toml")
    rc, loaded = loaded_by("run", "--syslog", "--log-level=debug", "--config", missing)
    assert rc == "1"  # the config cannot be read
    assert sorted(set(ARGPARSE_AND_CO) & loaded) == []
    assert "stanzalink.cli.parser" not in loaded and "stanzalink.fleet.cli" not in loaded
    # an abbreviation is argparse's: the same outcome, through it
    rc, loaded = loaded_by("run", "--conf", missing)
    assert rc == "1" and "argparse" in loaded
