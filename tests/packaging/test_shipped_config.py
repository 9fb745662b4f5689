"""The configuration the Debian package and the images install
(packaging/device.toml), left as shipped: ``check-config`` (the unit's
ExecStartPre, the SysV script's first step) and ``run`` refuse it with one
line that names the file, the key at fault and what to edit, until the
device's account, its password and a controller are set.  A service started
before that (an image's unit is enabled as installed) is tried again every
RestartSec, 15 s: tests/packaging/test_deb.py watches it under systemd."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

from stanzalink.cli.run import SHIPPED_JID

from ..util import python_cmd

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "packaging/device.toml"


def stanzalink(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*python_cmd(), "-m", "stanzalink", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def as_installed(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    """The shipped file with its paths moved under ``tmp_path`` (the state
    folder exists, as the package makes it), and each (pattern, line) edit."""
    (tmp_path / "state").mkdir(exist_ok=True)
    text = SHIPPED.read_text().replace("/var/lib/stanzalink", str(tmp_path / "state"))
    text = text.replace("/etc/stanzalink/password", str(tmp_path / "password"))
    for pattern, line in edits:
        text, n = re.subn(pattern, line, text, count=1, flags=re.M)
        assert n == 1, pattern
    conf = tmp_path / "device.toml"
    conf.write_text(text)
    return conf


def test_the_placeholder_is_the_shipped_jid() -> None:
    shipped = tomllib.loads(SHIPPED.read_text())
    assert shipped["account"]["jid"] == SHIPPED_JID
    assert "host" not in shipped["server"] and "hosts" not in shipped["server"]


def test_as_shipped_refused_with_what_to_edit(tmp_path: Path) -> None:
    conf = as_installed(tmp_path)
    what = (
        "(the file is still as shipped: set [account] jid to the device's account, "
        f"its password in {tmp_path / 'password'} and a controller in [access] admin; "
        "see docs/quickstart.md)"
    )
    for args in (("check-config", str(conf)), ("run", "--config", str(conf))):
        res = stanzalink(*args)
        assert res.returncode == 1 and res.stdout == "", res
        # one line: the file, the key at fault, what to edit
        assert res.stderr == (
            f"stanzalink: {conf}: account.password_file: {tmp_path / 'password'} "
            f"does not exist or is not a file {what}\n"
        )
    # the password given, the JID still the placeholder: refused by its key
    (tmp_path / "password").write_text("device password\n")
    for args in (("check-config", str(conf)), ("run", "--config", str(conf))):
        res = stanzalink(*args)
        assert res.returncode == 1, res
        assert (
            res.stderr
            == f"stanzalink: {conf}: account.jid: {SHIPPED_JID} is a placeholder {what}\n"
        )


def test_edited_as_the_quickstart_says_it_passes(tmp_path: Path) -> None:
    (tmp_path / "password").write_text("device password\n")
    conf = as_installed(
        tmp_path,
        (r'^jid = ".*"$', 'jid = "device1@example.org"'),
        (r"^admin = \[\].*$", 'admin = ["alice@example.org"]'),
    )
    res = stanzalink("check-config", str(conf))
    assert (res.returncode, res.stderr) == (0, ""), res
    assert res.stdout.startswith(f"{conf}: OK (device device1@example.org;")


def test_the_placeholder_served_by_a_named_server_passes(tmp_path: Path) -> None:
    """A test bed whose own server serves example.net may keep the JID."""
    (tmp_path / "password").write_text("device password\n")
    conf = as_installed(
        tmp_path,
        (r"^# host = .*$", 'host = "127.0.0.1"'),
        (r"^admin = \[\].*$", 'admin = ["alice@example.net"]'),
    )
    res = stanzalink("check-config", str(conf))
    assert res.returncode == 0, res


def test_a_config_read_from_a_pipe_is_read_once(tmp_path: Path) -> None:
    """``stanzalink example-config | stanzalink check-config /dev/stdin``:
    a pipe can be read once, so the look for the placeholder and the
    check read the same bytes (read twice, the check saw an empty file and
    said account.jid was missing)."""
    conf = tmp_path / "device.toml"
    conf.write_text(
        '[account]\njid = "d1@example.org"\npassword = "p"\n[access]\nadmin = ["a@example.org"]\n'
    )
    res = subprocess.run(
        [*python_cmd(), "-m", "stanzalink", "check-config", "/dev/stdin"],
        input=conf.read_text(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert res.returncode == 0 and res.stdout.startswith("/dev/stdin: OK"), res
    shipped = as_installed(tmp_path)
    res = subprocess.run(
        [*python_cmd(), "-m", "stanzalink", "check-config", "/dev/stdin"],
        input=shipped.read_text(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert res.returncode == 1 and "the file is still as shipped" in res.stderr, res


def test_a_file_without_end_is_refused_in_one_line() -> None:
    """/dev/zero as the config (a slip of the shell) was read to the end of
    memory, twice; it is refused at the size no config reaches."""
    res = stanzalink("check-config", "/dev/zero")
    assert res.returncode == 1, res
    assert res.stderr.startswith("stanzalink: /dev/zero: ") and "larger than" in res.stderr, res
    assert len(res.stderr.splitlines()) == 1, res.stderr


def test_a_file_that_is_not_utf8_is_refused_in_one_line(tmp_path: Path) -> None:
    """A config saved in Latin-1 ended check-config with a traceback."""
    conf = tmp_path / "device.toml"
    conf.write_bytes(b'[account]\njid = "g\xe9rard@example.org"\n')
    res = stanzalink("check-config", str(conf))
    assert res.returncode == 1 and "Traceback" not in res.stderr, res
    assert (
        res.stderr
        == f"stanzalink: {conf}: {conf} is not valid TOML: not UTF-8 (invalid continuation byte)\n"
    )
