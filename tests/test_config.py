"""Config loading: every wrong key or value is refused, naming the key."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from stanzalink.config import ConfigError, load, parse

from .util import python_cmd

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "device.toml"


def test_example_config_is_valid() -> None:
    cfg = load(EXAMPLE)
    assert str(cfg.jid) == "device1@example.net"
    assert cfg.keepalive == 300 and cfg.require_tls and cfg.verify_tls
    assert cfg.access["operator"] == ["ops.example.net"]


MINIMAL = {"account": {"jid": "d@example.net", "password": "p"}}


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"account": {"jid": "d@example.net", "password": "p", "pasword": "x"}}, "account.pasword"),
        ({**MINIMAL, "servr": {}}, "[servr]"),
        ({**MINIMAL, "server": {"port": 70000}}, "server.port"),
        ({**MINIMAL, "server": {"port": "5222"}}, "server.port"),
        ({**MINIMAL, "server": {"direct_tls": "yes"}}, "server.direct_tls"),
        ({**MINIMAL, "server": {"ca_file": "/nonexistent/ca.pem"}}, "server.ca_file"),
        ({**MINIMAL, "connection": {"keepalive": 0}}, "connection.keepalive"),
        ({**MINIMAL, "connection": {"keepalive": True}}, "connection.keepalive"),
        ({**MINIMAL, "access": {"admin": "alice@example.net"}}, "access.admin"),
        ({**MINIMAL, "access": {"admin": ["not a jid@"]}}, "access.admin"),
        ({**MINIMAL, "presence": {"priority": 500}}, "presence.priority"),
        ({**MINIMAL, "log": {"level": "loud"}}, "log.level"),
        ({"account": {"jid": "d@example.net"}}, "account.password"),
        ({"account": {"jid": "example.net", "password": "p"}}, "account.jid"),
        ({"account": {"jid": "d@example.net/res", "password": "p"}}, "account.jid"),
        ({"account": {"password": "p"}}, "account.jid"),
    ],
)
def test_wrong_config_names_the_key(raw: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(raw)  # type: ignore[arg-type]
    assert str(info.value).startswith(key), str(info.value)


def test_password_file(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    cfg = parse({"account": {"jid": "d@example.net", "password_file": str(pw)}})
    assert cfg.password == "s3cret"


def test_check_config_command(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[account]\njid = "d@example.net"\npassword = "x"\n[server]\nprot = 1\n')
    res = subprocess.run(
        [*python_cmd(), "-m", "stanzalink", "check-config", str(bad)],
        capture_output=True,
        check=False,
    )
    assert res.returncode == 1 and b"server.prot: unknown key" in res.stderr
    ok = subprocess.run(
        [*python_cmd(), "-m", "stanzalink", "check-config", str(EXAMPLE)],
        capture_output=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("[account\n")
    res = subprocess.run(
        [*python_cmd(), "-m", "stanzalink", "check-config", str(broken)],
        capture_output=True,
        check=False,
    )
    assert res.returncode == 1 and b"not valid TOML" in res.stderr
