"""`stanzalink dump`: the contract in DESIGN.md, through the real command."""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from stanzalink.xml import available_backends

from .conftest import expat_usable
from .util import python_cmd
from .xml.cases import CLOSE, HEADER, STANZA

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "streams" / "server-session.xml"


def dump(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*python_cmd(), "-m", "stanzalink", "dump", *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(params=["native", "expat"])
def backend_name(request: pytest.FixtureRequest) -> str:
    if request.param not in available_backends():
        pytest.skip("native module not built (allowed only outside CI)")
    if request.param == "expat" and not expat_usable():
        pytest.skip("this libexpat defers small chunks and pyexpat cannot turn that off")
    return str(request.param)


def test_sample_stream(backend_name: str) -> None:
    outputs = set()
    for chunk in ("1", "7", "4096"):
        res = dump("--backend", backend_name, "--chunk", chunk, str(SAMPLE))
        assert res.returncode == 0, res.stderr
        outputs.add(res.stdout)
    assert len(outputs) == 1
    lines = outputs.pop().decode().splitlines()
    assert lines[0].startswith("open ")
    assert json.loads(lines[0][5:])["from"] == "example.net"
    assert lines[-1] == "close"
    stanzas = [line[7:] for line in lines if line.startswith("stanza ")]
    assert len(stanzas) == 5
    for text in stanzas:
        # stands alone: parses on its own, every namespace declared
        el = ET.fromstring(text)
        assert el.tag.startswith("{")
    message = ET.fromstring(stanzas[3])
    assert message.tag == "{jabber:client}message"
    assert message.findtext("{jabber:client}body") == "status\nplease <now> \U0001f600"


def test_backends_print_the_same() -> None:
    if "native" not in available_backends():
        pytest.skip("native module not built (allowed only outside CI)")
    a = dump("--backend", "native", str(SAMPLE))
    b = dump("--backend", "expat", str(SAMPLE))
    assert a.stdout == b.stdout and a.returncode == b.returncode == 0


def test_stream_error_exit_status_and_line(backend_name: str) -> None:
    res = dump("--backend", backend_name, stdin=HEADER + STANZA + b"<!-- x -->" + CLOSE)
    assert res.returncode == 1
    lines = res.stdout.decode().splitlines()
    assert lines[-1] == "error restricted-xml"
    assert len(lines) == 3 and lines[1].startswith("stanza <message ")
    assert b"restricted-xml" in res.stderr and b"line" in res.stderr


def test_stdin_and_help() -> None:
    res = dump(stdin=HEADER + STANZA)
    assert res.returncode == 0 and res.stdout.decode().count("\n") == 2
    top = subprocess.run(
        [*python_cmd(), "-m", "stanzalink", "--help"], capture_output=True, check=False
    )
    assert top.returncode == 0 and b"dump" in top.stdout


def test_missing_file_is_a_clear_error() -> None:
    res = dump("/nonexistent/stream.xml")
    assert res.returncode == 2 and b"No such file" in res.stderr


def stanzalink(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*python_cmd(), "-m", "stanzalink", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("command", ["dump", "run", "check-config", "http"])
def test_every_command_has_help_with_exit_statuses(command: str) -> None:
    res = stanzalink(command, "--help")
    assert res.returncode == 0, res.stderr
    assert "exit status" in res.stdout
    top = stanzalink("--help").stdout
    assert command in top and "examples:" in top
    # every source file the help names is in the source tree (the on-target
    # test suite, ptest, has tests/ and examples/ but no docs/)
    root = Path(__file__).resolve().parent.parent
    if not (root / "docs").is_dir():
        return
    for rel in re.findall(r"\b((?:docs|examples)/[\w./-]+\.(?:md|toml|xml))", res.stdout + top):
        assert (root / rel).exists(), rel


CONTROLLER = '[account]\njid = "alice@example.net"\npassword = "x"\n'


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["device1@example.net", "GET", "/"], "is a bare JID"),
        (["not a jid@", "GET", "/"], "is not a JID"),
        (["device1@example.net/agent", "GET", "api/status"], "must start with /"),
        (["device1@example.net/agent", "GET", "/", "--timeout", "0"], "--timeout"),
        (["device1@example.net/agent", "GET", "/", "-H", "nocolon"], "NAME:VALUE"),
        (["device1@example.net/agent", "PUT", "/", "-d", "@/nonexistent/x"], "--data"),
    ],
)
def test_http_refuses_bad_arguments_before_connecting(
    tmp_path: Path, args: list[str], message: str
) -> None:
    cfg = tmp_path / "controller.toml"
    # a server nobody listens on: a connection attempt would fail with status 1
    cfg.write_text(CONTROLLER + '[server]\nhost = "127.0.0.1"\nport = 9\n')
    res = stanzalink("http", *args, "--config", str(cfg))
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and "Traceback" not in res.stderr


def test_run_reports_a_feature_that_cannot_start(tmp_path: Path) -> None:
    cfg = tmp_path / "device.toml"
    cfg.write_text(
        CONTROLLER + '[server]\nhost = "127.0.0.1"\nport = 9\n[http]\nwsgi_app = "nosuch_mod:app"\n'
    )
    res = stanzalink("run", "--config", str(cfg))
    assert res.returncode == 1
    assert "http.wsgi_app" in res.stderr and "Traceback" not in res.stderr
    # and the config lets nobody in: said before anything else
    assert "[access] names no controllers" in res.stderr.splitlines()[0]


def test_run_logs_to_syslog_when_asked(tmp_path: Path) -> None:
    # the SysV script runs the agent with --syslog: its stderr goes nowhere
    import socket

    cfg = tmp_path / "device.toml"
    cfg.write_text(
        CONTROLLER + '[server]\nhost = "127.0.0.1"\nport = 9\n[http]\nwsgi_app = "nosuch_mod:app"\n'
    )
    path = str(tmp_path / "log.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as log:
        log.bind(path)
        log.settimeout(30)
        res = stanzalink("run", "--config", str(cfg), "--syslog", path)
        datagram = log.recv(65536).decode()
    assert res.returncode == 1 and "http.wsgi_app" in res.stderr
    # <28>: facility daemon (3), level warning (4); the program's tag and pid
    assert re.match(r"<28>stanzalink\[\d+\]: WARNING stanzalink: .*\[access\] names no", datagram)
    assert "[access]" not in res.stderr
    # no syslog there: stderr, saying so
    res = stanzalink("run", "--config", str(cfg), "--syslog", str(tmp_path / "none.sock"))
    assert res.returncode == 1
    lines = res.stderr.splitlines()
    assert "no syslog at" in lines[0] and "logging to stderr" in lines[0]
    assert "[access] names no controllers" in lines[1]


def test_check_config_counts_the_controllers(tmp_path: Path) -> None:
    cfg = tmp_path / "device.toml"
    cfg.write_text(CONTROLLER + '[access]\nadmin = ["bob@example.net"]\n')
    res = stanzalink("check-config", str(cfg))
    assert res.returncode == 0 and "controllers: 1 admin, 0 operator, 0 viewer" in res.stdout
    assert res.stderr == ""
    cfg.write_text(CONTROLLER)
    res = stanzalink("check-config", str(cfg))
    assert res.returncode == 0
    assert res.stderr.startswith("stanzalink: warning: ") and "names no controllers" in res.stderr


def test_http_says_once_why_it_could_not_connect(tmp_path: Path) -> None:
    cfg = tmp_path / "controller.toml"
    cfg.write_text(CONTROLLER + '[server]\nhost = "127.0.0.1"\nport = 9\n')
    res = stanzalink("http", "device1@example.net/agent", "GET", "/", "--config", str(cfg))
    assert res.returncode == 1
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("stanzalink http: cannot connect to 127.0.0.1:9")


def test_run_says_what_it_runs_with_at_start(tmp_path: Path) -> None:
    """The first lines of a run: the version, the config file, the account,
    the parser and where the server is to be found; then a refused
    connection says where its address came from."""
    import signal
    import time

    from stanzalink import __version__

    cfg = tmp_path / "device.toml"
    cfg.write_text(CONTROLLER + '[server]\nhost = "127.0.0.1"\nport = 9\n')
    proc = subprocess.Popen(
        [*python_cmd(), "-m", "stanzalink", "run", "--config", str(cfg)],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and not any("cannot connect" in x for x in lines):
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    start = next(x for x in lines if "starting:" in x)
    assert (
        f"stanzalink {__version__} starting: config {cfg}, account alice@example.net, parser "
    ) in start
    assert start.rstrip().endswith("server 127.0.0.1:9 ([server] host)")
    assert any("cannot connect to 127.0.0.1:9 ([server] host): " in x for x in lines)
    assert proc.returncode == 0  # SIGTERM is a requested stop


def test_example_config_prints_the_shipped_example(tmp_path: Path) -> None:
    """The package carries examples/device.toml (agent/stanzalink/data is its
    copy, kept identical here) and `stanzalink example-config` prints it; it
    checks as a config once a password file exists."""
    root = Path(__file__).resolve().parents[1]
    example = (root / "examples" / "device.toml").read_text()
    assert (root / "agent" / "stanzalink" / "data" / "device.toml").read_text() == example, (
        "agent/stanzalink/data/device.toml must be a copy of examples/device.toml"
    )
    res = subprocess.run(
        [*python_cmd(), "-m", "stanzalink", "example-config"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert res.stdout == example
    written = tmp_path / "device.toml"
    written.write_text(res.stdout)
    check = subprocess.run(
        [*python_cmd(), "-m", "stanzalink", "check-config", str(written)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize("columns", [None, "50", "0", "wide", "-3"])
def test_help_is_as_wide_as_argparse_makes_it(
    columns: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the command line finds the width without shutil, the way shutil does
    import shutil

    from stanzalink.cli import _terminal_columns

    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert _terminal_columns() == shutil.get_terminal_size().columns
