"""Config loading: every wrong key or value is refused, naming the key."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from stanzalink.config import SCHEMA, ConfigError, load, parse

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


@pytest.mark.parametrize(
    ("section", "body", "key"),
    [
        ("identity", {"name": ""}, "identity.name"),
        ("identity", {"latitude": "48", "longitude": 1}, "identity.latitude"),
        ("identity", {"latitude": 48.1}, "identity.latitude / identity.longitude"),
        ("identity", {"caps_node": " "}, "identity.caps_node"),
        ("console", {"settable": ["nosuch.key"]}, "console.settable"),
        ("console", {"settable": ["account.password"]}, "console.settable"),
        ("console", {"disk_paths": ["data"]}, "console.disk_paths"),
        ("console", {"audit_log": ""}, "console.audit_log"),
        ("console", {"log_file": "messages"}, "console.log_file"),
        ("console", {"reboot_command": []}, "console.reboot_command"),
        ("console", {"page_size": 10}, "console.page_size"),
        ("http", {"origin": "http://127.0.0.1:99999"}, "http.origin"),
        ("http", {"origin": "http://[::1"}, "http.origin"),
        ("http", {"origin": "http://127.0.0.1:8080", "wsgi_app": "a:b"}, "http.origin / http.wsgi"),
        ("http", {"wsgi_app": "my product:app"}, "http.wsgi_app"),
        ("http", {"paths": {"api": "viewer"}}, "http.paths"),
        ("http", {"paths": {"/api/": "root"}}, "http.paths./api/"),
        ("http", {"chunk_size": 100}, "http.chunk_size"),
        ("files", {"inbox": ""}, "files.inbox"),
        ("files", {"inbox": "inbox"}, "files.inbox"),
        ("files", {"export": ["var/log"]}, "files.export"),
        ("files", {"max_size": 1.5}, "files.max_size"),
        ("files", {"min_free": -5}, "files.min_free"),
        ("files", {"socks5_proxy": "not a jid@"}, "files.socks5_proxy"),
        ("files", {"direct_host": ""}, "files.direct_host"),
        ("files", {"role_get": "everyone"}, "files.role_get"),
        ("files", {"max_transfers": 0}, "files.max_transfers"),
        ("files", {"max_transfers_per_peer": 65}, "files.max_transfers_per_peer"),
        ("console", {"max_jobs_total": 0}, "console.max_jobs_total"),
        ("console", {"max_delay": -1}, "console.max_delay"),
        ("console", {"max_delay": 86401}, "console.max_delay"),
        ("console", {"max_delay": "2 min"}, "console.max_delay"),
        ("adhoc", {"sesion_timeout": 60}, "adhoc.sesion_timeout"),
        ("adhoc", {"max_sessions": 0}, "adhoc.max_sessions"),
        ("access", {"unlisted": "delete"}, "access.unlisted"),
        ("access", {"notify_admins": 1}, "access.notify_admins"),
        ("account", {"resource": ""}, "account.resource"),
        ("server", {"host": ""}, "server.host"),
    ],
)
def test_wrong_value_in_a_feature_section_names_the_key(
    section: str, body: dict[str, object], key: str
) -> None:
    raw: dict[str, dict[str, object]] = {"account": dict(MINIMAL["account"])}
    raw.setdefault(section, {}).update(body)
    with pytest.raises(ConfigError) as info:
        parse(raw)
    assert str(info.value).startswith(key), str(info.value)


def test_right_values_in_feature_sections_pass() -> None:
    cfg = parse(
        {
            **MINIMAL,
            "console": {"settable": ["presence.status", "log.level"], "disk_paths": ["/"]},
            "http": {"wsgi_app": "myproduct.web:app", "paths": {"/": "viewer"}},
            "files": {"inbox": "/var/lib/x", "socks5_proxy": "proxy.example.net"},
        }
    )
    assert cfg.section("http")["wsgi_app"] == "myproduct.web:app"


def _keys_in(text: str) -> set[str]:
    """section.key of every key in a TOML text, commented-out ones too: the
    example documents the optional keys as `# key = value` lines."""
    keys: set[str] = set()
    section = ""
    for line in text.splitlines():
        m = re.match(r"^\[(\w+)\]", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"^#? ?(\w+) = ", line)
        if m and section:
            keys.add(f"{section}.{m.group(1)}")
    return keys


def test_example_documents_exactly_the_schema() -> None:
    documented = _keys_in(EXAMPLE.read_text())
    schema = {f"{s}.{k}" for s, keys in SCHEMA.items() for k in keys}
    # password_file is documented on the password line, as its alternative
    documented.add("account.password_file")
    assert schema - documented == set(), "in SCHEMA, not in examples/device.toml"
    assert documented - schema == set(), "in examples/device.toml, not in SCHEMA"


def test_typos_get_a_suggestion_and_stray_keys_a_section() -> None:
    with pytest.raises(ConfigError, match=r"^console\.shel: unknown key, did you mean 'shell'\?"):
        parse({**MINIMAL, "console": {"shel": True}})
    with pytest.raises(ConfigError, match=r"^\[identiy\]: unknown section, did you mean 'ident"):
        parse({**MINIMAL, "identiy": {}})
    with pytest.raises(ConfigError, match=r"^inbox: a key outside any \[section\]; .* \[files\]"):
        parse({**MINIMAL, "inbox": "/var/lib/x"})
    with pytest.raises(ConfigError, match=r"belongs in \[console\] or \[adhoc\]$"):
        parse({**MINIMAL, "max_sessions": 4})


def test_console_plugin_files_are_found_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "fan.py").write_text("")
    cfg = tmp_path / "device.toml"
    account = '[account]\njid = "d@example.net"\npassword = "p"\n'
    cfg.write_text(account + '[console]\nplugins = ["plugins/fan.py", "acme.fan"]\n')
    assert load(cfg).section("console")["plugins"] == ["plugins/fan.py", "acme.fan"]
    cfg.write_text(account + '[console]\nplugins = ["plugins/fna.py"]\n')
    with pytest.raises(ConfigError, match=r"^console\.plugins: plugins/fna\.py: .* is not a file"):
        load(cfg)


def test_relative_file_paths_are_from_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a service starts in / (systemd) or wherever: the config's own folder is what counts
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "password").write_text("s3cret\n")
    (etc / "ca.pem").write_text("")
    (etc / "state").mkdir()
    cfg = etc / "device.toml"
    cfg.write_text(
        '[account]\njid = "d@example.net"\npassword_file = "password"\n'
        'scram_keys_file = "state/scram.json"\n'
        '[server]\nca_file = "ca.pem"\n'
    )
    elsewhere = tmp_path / "run"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loaded = load(Path("..") / "etc" / "device.toml")
    assert loaded.password == "s3cret"
    assert loaded.ca_file == str(etc / "ca.pem")
    assert loaded.scram_keys_file == str(etc / "state" / "scram.json")
    # absolute paths are kept, and a missing relative file is named as resolved
    cfg.write_text(
        f'[account]\njid = "d@example.net"\npassword_file = "{etc / "password"}"\n'
        '[server]\nca_file = "cacert.pem"\n'
    )
    with pytest.raises(ConfigError, match=r"^server\.ca_file: .*/etc/cacert\.pem does not exist"):
        load(cfg)
    cfg.write_text(
        '[account]\njid = "d@example.net"\npassword = "p"\n[server]\nca_file = "ca.pem"\n'
    )
    assert load(cfg).ca_file == str(etc / "ca.pem")
