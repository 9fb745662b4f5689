"""The code for config values a default device does not give (an avatar
file, a password file, a ``[server] hosts`` list) and for the commands
other than ``run`` loads only when it is needed: reading a default config
loads none of it; a config that gives such a value loads its module and
is read as before."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

from .util import agent_pythonpath, python_cmd

# the config read as `stanzalink run` reads it, then the stanzalink modules loaded
READ = textwrap.dedent(
    """
    import sys
    from stanzalink.aio.sections import client_config
    from stanzalink.cli.run import load_device_config
    cfg = load_device_config(sys.argv[1])
    client = client_config(cfg)
    print(cfg.password, client.hosts)
    print(" ".join(m for m in sys.modules if m.startswith("stanzalink")))
    """
)

LAZY = (
    "stanzalink.aio.hostport",
    "stanzalink.aio.password_file",
    "stanzalink.xep.photo",
    "stanzalink.cli.config_commands",
    "stanzalink.cli.syslog_handler",
)


def read(tmp_path: Path, account: str, rest: str = "") -> tuple[str, set[str]]:
    conf = tmp_path / "device.toml"
    conf.write_text(f'[account]\njid = "d@example.net"\n{account}\n{rest}')
    out = subprocess.run(
        [*python_cmd(), "-c", READ, str(conf)],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": agent_pythonpath()},
        timeout=120,
    ).stdout.splitlines()
    return out[0], set(out[1].split())


def test_a_default_config_loads_none_of_it(tmp_path: Path) -> None:
    values, loaded = read(tmp_path, 'password = "pw"', '[server]\nhost = "127.0.0.1"\n')
    assert values == "pw None"
    assert "stanzalink.xep.identity" in loaded
    assert sorted(set(LAZY) & loaded) == []


def test_a_password_file_loads_its_reader(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("from-the-file\n")
    values, loaded = read(tmp_path, 'password_file = "pw"')
    assert values == "from-the-file None"
    assert sorted(set(LAZY) & loaded) == ["stanzalink.aio.password_file"]


def test_a_hosts_list_loads_the_host_port_reading(tmp_path: Path) -> None:
    hosts = '[server]\nhosts = ["a.example.net", "[::1]:5223"]\n'
    values, loaded = read(tmp_path, 'password = "pw"', hosts)
    assert values == "pw [('a.example.net', 5222), ('::1', 5223)]"
    assert sorted(set(LAZY) & loaded) == ["stanzalink.aio.hostport"]


def test_an_avatar_loads_the_photo_checks(tmp_path: Path) -> None:
    (tmp_path / "avatar.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(16))  # its type, read
    values, loaded = read(tmp_path, 'password = "pw"', '[identity]\nphoto = "avatar.png"\n')
    assert values == "pw None"
    assert sorted(set(LAZY) & loaded) == ["stanzalink.xep.photo"]
