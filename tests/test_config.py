"""Config loading: every wrong key or value is refused, naming the key."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from stanzalink.agent import load_config, parse_config, schema
from stanzalink.config import ConfigError

from .util import python_cmd

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "device.toml"
# a self-signed CA certificate (EC P-256, valid until 2126; its key is gone)
CA_PEM = """-----BEGIN CERTIFICATE-----
MIIBkTCCATegAwIBAgIUaOpviZW0xuRlCB5Ngaq0QQRQeKEwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSc3RhbnphbGluayB0ZXN0IENBMCAXDTI2MTIwNTAwMzUxOVoY
DzIxMjYxMTExMDAzNTE5WjAdMRswGQYDVQQDDBJzdGFuemFsaW5rIHRlc3QgQ0Ew
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARmhPahPTzD86iNwZVoHLQj+xu6FZOv
gH+7ru7+RIOcWbCEUESNHNKJSMTBLDKi8HLoIkhiEe4w9moXjcPGsrTno1MwUTAd
BgNVHQ4EFgQUt0S1SFdlMVC0O3sEM/Wp3JfoYVkwHwYDVR0jBBgwFoAUt0S1SFdl
MVC0O3sEM/Wp3JfoYVkwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBF
AiEAkaSUSOWzqeKC9Fwdi1VJnwPZaq1iwxfmlxhZYdSOdYQCIGlNhcpda6XdAOlv
vfFjZqPZIIPtMNhxtDmXrKSljgn1
-----END CERTIFICATE-----
"""


def test_example_config_is_valid() -> None:
    cfg = load_config(EXAMPLE)
    assert str(cfg.jid) == "device1@example.net"
    server = cfg.section("server")
    assert cfg.section("connection")["keepalive"] == 3600
    assert server["require_tls"] and server["verify_tls"]
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
        parse_config(raw)  # type: ignore[arg-type]
    assert str(info.value).startswith(key), str(info.value)


def test_password_file(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    cfg = parse_config({"account": {"jid": "d@example.net", "password_file": str(pw)}})
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
        parse_config(raw)
    assert str(info.value).startswith(key), str(info.value)


def test_right_values_in_feature_sections_pass() -> None:
    cfg = parse_config(
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
    known = {f"{s}.{k}" for s, sec in schema().items() for k in sec.keys}
    # password_file is documented on the password line, as its alternative
    documented.add("account.password_file")
    assert known - documented == set(), "in the schema, not in examples/device.toml"
    assert documented - known == set(), "in examples/device.toml, not in the schema"


def test_typos_get_a_suggestion_and_stray_keys_a_section() -> None:
    with pytest.raises(ConfigError, match=r"^console\.shel: unknown key, did you mean 'shell'\?"):
        parse_config({**MINIMAL, "console": {"shel": True}})
    with pytest.raises(ConfigError, match=r"^\[identiy\]: unknown section, did you mean 'ident"):
        parse_config({**MINIMAL, "identiy": {}})
    with pytest.raises(ConfigError, match=r"^inbox: a key outside any \[section\]; .* \[files\]"):
        parse_config({**MINIMAL, "inbox": "/var/lib/x"})
    with pytest.raises(ConfigError, match=r"belongs in \[console\] or \[adhoc\]$"):
        parse_config({**MINIMAL, "max_sessions": 4})


def test_console_plugin_files_are_found_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "fan.py").write_text("")
    cfg = tmp_path / "device.toml"
    account = '[account]\njid = "d@example.net"\npassword = "p"\n'
    cfg.write_text(account + '[console]\nplugins = ["plugins/fan.py", "acme.fan"]\n')
    assert load_config(cfg).section("console")["plugins"] == ["plugins/fan.py", "acme.fan"]
    cfg.write_text(account + '[console]\nplugins = ["plugins/fna.py"]\n')
    with pytest.raises(ConfigError, match=r"^console\.plugins: plugins/fna\.py: .* is not a file"):
        load_config(cfg)


def test_relative_file_paths_are_from_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a service starts in / (systemd) or wherever: the config's own folder is what counts
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "password").write_text("s3cret\n")
    (etc / "ca.pem").write_text(CA_PEM)
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
    loaded = load_config(Path("..") / "etc" / "device.toml")
    assert loaded.password == "s3cret"
    assert loaded.section("server")["ca_file"] == str(etc / "ca.pem")
    assert loaded.section("account")["scram_keys_file"] == str(etc / "state" / "scram.json")
    # absolute paths are kept, and a missing relative file is named as resolved
    cfg.write_text(
        f'[account]\njid = "d@example.net"\npassword_file = "{etc / "password"}"\n'
        '[server]\nca_file = "cacert.pem"\n'
    )
    with pytest.raises(ConfigError, match=r"^server\.ca_file: .*/etc/cacert\.pem does not exist"):
        load_config(cfg)
    cfg.write_text(
        '[account]\njid = "d@example.net"\npassword = "p"\n[server]\nca_file = "ca.pem"\n'
    )
    assert load_config(cfg).section("server")["ca_file"] == str(etc / "ca.pem")
    # spelled as a path object joins them (no empty or "." parts)
    cfg.write_text(
        '[account]\njid = "d@example.net"\npassword = "p"\n'
        '[server]\nca_file = "./state/..//ca.pem"\n'
    )
    assert load_config(cfg).section("server")["ca_file"] == str(etc / "./state/..//ca.pem")
    assert load_config(cfg).base == str(etc)


def check_config(cfg: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*python_cmd(), "-m", "stanzalink", "check-config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A client certificate and its key, the key alone, another key, the
    key encrypted, certificate and key in one file, a DER certificate."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not installed")
    d = tmp_path_factory.mktemp("certs")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-days", "2", "-subj", "/CN=d@example.net",
            "-keyout", "dev.key", "-out", "dev.pem")  # fmt: skip
    openssl("genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-out", "other.key")  # fmt: skip
    openssl("pkey", "-in", "dev.key", "-aes256", "-passout", "pass:x", "-out", "enc.key")
    openssl("x509", "-in", "dev.pem", "-outform", "der", "-out", "dev.der")
    (d / "both.pem").write_text((d / "dev.pem").read_text() + (d / "dev.key").read_text())
    (d / "ca.pem").write_text(CA_PEM)
    (d / "garbage.pem").write_text("not a certificate\n")
    (d / "not-an-image.png").write_text("<svg/>")
    return d


@pytest.fixture
def device_toml(tmp_path: Path) -> Callable[[str], Path]:
    def write(extra: str) -> Path:
        cfg = tmp_path / "device.toml"
        cfg.write_text(
            '[account]\njid = "d@example.net"\npassword = "p"\n'
            '[access]\nadmin = ["alice@example.net"]\n' + extra
        )
        return cfg

    return write


@pytest.mark.parametrize(
    ("section", "message"),
    [
        # a CA file that is not a certificate: run used to die on it, silently
        (
            '[server]\nca_file = "{d}/garbage.pem"',
            "server.ca_file: {d}/garbage.pem is not a PEM certificate file: ",
        ),
        (
            '[server]\nca_file = "{d}/dev.der"',
            "server.ca_file: {d}/dev.der is not a PEM certificate file: ",
        ),
        (
            '[server]\nca_file = "{d}/dev.key"',
            "server.ca_file: {d}/dev.key is not a PEM certificate file: ",
        ),
        (
            '[server]\nclient_cert = "{d}/dev.pem"\nclient_key = "{d}/other.key"',
            "server.client_key: the private key in {d}/other.key does not match "
            "the certificate in {d}/dev.pem",
        ),
        (
            '[server]\nclient_cert = "{d}/dev.pem"\nclient_key = "{d}/enc.key"',
            "server.client_key: the private key in {d}/enc.key is encrypted",
        ),
        (
            '[server]\nclient_cert = "{d}/dev.pem"\nclient_key = "{d}/garbage.pem"',
            "server.client_key: {d}/garbage.pem is not a PEM private key: ",
        ),
        (
            '[server]\nclient_cert = "{d}/dev.pem"',
            "server.client_cert: {d}/dev.pem holds no private key",
        ),
        (
            '[server]\nclient_cert = "{d}/dev.key"\nclient_key = "{d}/dev.key"',
            "server.client_cert: {d}/dev.key holds no PEM certificate: ",
        ),
        (
            '[identity]\nphoto = "{d}/not-an-image.png"',
            "identity.photo: {d}/not-an-image.png is not a PNG, JPEG, GIF or WebP image",
        ),
    ],
)
def test_check_config_loads_the_files_run_loads(
    certs: Path, device_toml: Callable[[str], Path], section: str, message: str
) -> None:
    cfg = device_toml(section.format(d=certs) + "\n")
    expected = message.format(d=certs)
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    assert str(info.value).startswith(expected), str(info.value)
    res = check_config(cfg)
    assert res.returncode == 1 and res.stdout == ""
    assert res.stderr.startswith(f"stanzalink: {cfg}: {expected}"), res.stderr
    assert "Traceback" not in res.stderr


def test_check_config_passes_good_files(certs: Path, device_toml: Callable[[str], Path]) -> None:
    png = certs / "avatar.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    for section in (
        f'[server]\nca_file = "{certs}/ca.pem"\n'
        f'client_cert = "{certs}/dev.pem"\nclient_key = "{certs}/dev.key"\n'
        f'[identity]\nphoto = "{png}"\n',
        f'[server]\nca_file = "{certs}/dev.pem"\nclient_cert = "{certs}/both.pem"\n',
    ):
        cfg = device_toml(section)
        res = check_config(cfg)
        assert res.returncode == 0 and res.stdout.startswith(f"{cfg}: OK"), res.stderr
        assert res.stderr == ""


def test_run_refuses_what_check_config_refuses(
    certs: Path, device_toml: Callable[[str], Path]
) -> None:
    # one code path: run stops at once with the same words, before connecting
    cfg = device_toml(f'[server]\nhost = "127.0.0.1"\nport = 9\nca_file = "{certs}/garbage.pem"\n')
    res = subprocess.run(
        [*python_cmd(), "-m", "stanzalink", "run", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 1
    assert res.stderr.startswith(f"stanzalink: {cfg}: server.ca_file: {certs}/garbage.pem is not")


def test_a_password_file_that_is_not_text_names_the_key(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_bytes(b"\xff\xfe\x00secret")
    with pytest.raises(ConfigError, match=r"^account\.password_file: cannot read .*/pw: "):
        parse_config({"account": {"jid": "d@example.net", "password_file": str(pw)}})


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"\x00" * 16, "control characters"),  # what a power cut can leave
        (b"first\nsecond\n", "control characters"),
        (b"x" * 5000, "larger than 4096 bytes"),
        (b" \n\n", "is empty"),
    ],
)
def test_a_password_file_that_holds_no_one_line_password_is_refused(
    tmp_path: Path, content: bytes, why: str
) -> None:
    pw = tmp_path / "pw"
    pw.write_bytes(content)
    with pytest.raises(ConfigError, match=rf"^account\.password_file: .*{why}"):
        parse_config({"account": {"jid": "d@example.net", "password_file": str(pw)}})


def test_a_huge_password_file_is_not_read_whole(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    with open(pw, "wb") as fh:
        fh.truncate(1 << 32)  # 4 GiB, sparse: reading it whole would take the memory
    with pytest.raises(ConfigError, match="larger than 4096 bytes"):
        parse_config({"account": {"jid": "d@example.net", "password_file": str(pw)}})
