"""``[server] hosts``: several server addresses, each a failover candidate.
The key's checks (what ``check-config`` refuses, naming the key), what the
client is given, and the order in which the candidates are tried."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest

from stanzalink.agent import parse_config
from stanzalink.aio.config import ClientConfig
from stanzalink.aio.hostport import parse_host_port, parse_hosts
from stanzalink.aio.reconnect import Reconnect
from stanzalink.aio.sections import client_config
from stanzalink.aio.targets import Target
from stanzalink.config import ConfigError
from stanzalink.jid import JID

from ..util import child_lines, python_cmd

ACCOUNT = {"jid": "d@example.net", "password": "p"}


def config(**server: Any) -> Any:
    return parse_config({"account": dict(ACCOUNT), "server": server})


def test_entries_are_host_and_optional_port() -> None:
    assert parse_hosts(
        ["a.example.net:5223", "b.example.net", "127.0.0.1:5", "[::1]:5224", "[::1]"], 5222
    ) == [
        ("a.example.net", 5223),
        ("b.example.net", 5222),
        ("127.0.0.1", 5),
        ("::1", 5224),
        ("::1", 5222),
    ]
    assert parse_host_port("a.example.net", 6000) == ("a.example.net", 6000)
    # what IDNA keeps: a U-label in either case, its A-label; an IPv4 address
    for name in ("bücher.example", "BÜCHER.example", "xn--bcher-kva.example", "10.0.0.1"):
        assert parse_host_port(name, 5222) == (name, 5222)
    assert parse_host_port("a1.example.1a", 5222) == ("a1.example.1a", 5222)
    # a server's see-other-host redirect is read the same way
    from stanzalink.aio.reconnect import parse_redirect

    assert parse_redirect("ex\u00adample.net:5222", 5222) is None
    assert parse_redirect("999.1.1.1", 5222) is None


def test_a_missing_port_is_the_server_port() -> None:
    client = client_config(config(hosts=["a.example.net", "b.example.net:5223"], port=6222))
    assert client.hosts == [("a.example.net", 6222), ("b.example.net", 5223)]
    assert client.host is None
    plain = client_config(config(host="a.example.net"))
    assert plain.hosts is None and plain.host == "a.example.net"


@pytest.mark.parametrize(
    ("hosts", "words"),
    [
        ("a.example.net", "expected a list of strings"),
        ([], "at least one"),
        (["a.example.net", 5222], "expected a list of strings"),
        (["a.example.net:0"], "entry 1 of 1, 'a.example.net:0', is not host[:port]"),
        (["a.example.net", "b.example.net:x"], "entry 2 of 2, 'b.example.net:x'"),
        (["a.example.net:70000"], "is not host[:port]"),
        (["::1:5222"], "an IPv6 address goes in brackets"),
        (["[::1"], "is not host[:port]"),
        (["bad host"], "is not host[:port]"),
        ([""], "is not host[:port]"),
        (["a.example.net:5222:1"], "is not host[:port]"),
        # one host twice is tried twice a round: a typo for another node
        (["a.example.net", "b.example.net", "A.Example.NET.:5222"], "entry 3 of 3, "),
        (["a.example.net", "A.Example.NET.:5222"], "repeats entry 1 (a.example.net:5222)"),
        (["[::1]:5222", "[0:0::1]"], "entry 2 of 2, '[0:0::1]', repeats entry 1"),
        ([f"n{i}.example.net" for i in range(65)], "65 entries, at most 64"),
        # an all-numeric last label is an IPv4 address or nothing (RFC 3696)
        (["999.1.1.1"], "entry 1 of 1, '999.1.1.1', is not host[:port]"),
        (["10.0.0.1.5:5222"], "is not host[:port]"),
        # names IDNA maps to another: a soft hyphen, fullwidth letters, a bad A-label
        (["ex\u00adample.net"], "is not host[:port]"),
        (["\uff45xample.net"], "is not host[:port]"),
        (["xn--zz.example.net"], "is not host[:port]"),
    ],
)
def test_bad_entries_are_refused_naming_the_key(hosts: Any, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        config(hosts=hosts)
    assert str(info.value).startswith("server.hosts: "), info.value
    assert words in str(info.value)


def test_host_and_hosts_are_not_both_given() -> None:
    with pytest.raises(ConfigError, match=r"^server.host / server.hosts: give only one"):
        config(host="a.example.net", hosts=["b.example.net"])
    with pytest.raises(ValueError, match="not both"):
        ClientConfig(JID.parse("d@example.net"), host="a", hosts=["b"])


def test_check_config_refuses_host_and_hosts(tmp_path: Path) -> None:
    cfg = tmp_path / "device.toml"
    cfg.write_text(
        '[account]\njid = "d@example.net"\npassword = "p"\n'
        '[access]\nadmin = ["alice@example.net"]\n'
        '[server]\nhost = "a.example.net"\nhosts = ["b.example.net:5222"]\n'
    )
    res = subprocess.run(
        [*python_cmd(), "-m", "stanzalink", "check-config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 1 and "server.host / server.hosts" in res.stderr, res.stderr
    cfg.write_text(cfg.read_text().replace('host = "a.example.net"\n', ""))
    ok = subprocess.run(
        [*python_cmd(), "-m", "stanzalink", "check-config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr


def test_hosts_are_the_targets_in_their_order() -> None:
    cfg = ClientConfig(
        JID.parse("d@example.net"), hosts=["a.example.net", "[::1]:5223"], direct_tls=True
    )
    reconnect = Reconnect(cfg)
    targets = asyncio.run(reconnect.targets(None))
    assert targets == [Target("a.example.net", 5222, True), Target("::1", 5223, True)]
    assert [str(t) for t in targets] == ["a.example.net:5222", "[::1]:5223"]
    assert reconnect.targets_from == "[server] hosts"


def test_the_start_line_names_the_configured_server() -> None:
    from stanzalink.aio.reconnect import configured_server

    jid = JID.parse("d@example.net")
    hosts = ClientConfig(jid, hosts=["a.example.net", "[::1]:5223"])
    assert configured_server(hosts) == "a.example.net:5222, [::1]:5223 ([server] hosts)"
    assert configured_server(ClientConfig(jid, host="h", port=9)) == "h:9 ([server] host)"
    assert configured_server(ClientConfig(jid)).startswith("found by SRV lookup of example.net")


def test_a_host_given_twice_to_the_client_is_tried_once() -> None:
    """The client's own API takes what check-config refuses: each round
    tries a host once, where it comes first."""
    cfg = ClientConfig(JID.parse("d@example.net"), hosts=["a.example.net", "b", "A.example.net."])
    targets = asyncio.run(Reconnect(cfg).targets(None))
    assert targets == [Target("a.example.net", 5222, False), Target("b", 5222, False)]


def test_an_entry_is_a_repeat_only_at_the_same_port() -> None:
    client = client_config(config(hosts=["a.example.net", "a.example.net:5222"], port=6222))
    assert client.hosts == [("a.example.net", 6222), ("a.example.net", 5222)]
    with pytest.raises(ConfigError, match=r"entry 2 of 2, 'a.example.net:6222', repeats entry 1"):
        config(hosts=["a.example.net", "a.example.net:6222"], port=6222)


def test_parse_hosts_is_still_importable_from_the_client_config() -> None:
    # it was in stanzalink.aio.config's __all__; importing that module still
    # loads no host[:port] reading until the name is asked for
    code = (
        "import sys\n"
        "import stanzalink.aio.config as c\n"
        "print('stanzalink.aio.hostport' in sys.modules)\n"
        "from stanzalink.aio.config import parse_hosts\n"
        "from stanzalink.aio import hostport\n"
        "print(parse_hosts is hostport.parse_hosts, 'parse_hosts' in c.__all__)\n"
    )
    out = child_lines(code)
    assert out == ["False", "True True"]


def test_reading_host_and_port_for_the_client_loads_no_config_checks() -> None:
    # an SRV answer or a redirect reads host[:port] in a client that has no
    # config file: the config's checks (stanzalink.config) stay unloaded
    code = (
        "import sys\n"
        "import stanzalink.aio.client, stanzalink.aio.dns\n"
        "from stanzalink.aio.reconnect import parse_redirect\n"
        "assert parse_redirect('[::1]:5223', 5222) == ('::1', 5223)\n"
        "print('stanzalink.config' in sys.modules)\n"
    )
    out = child_lines(code)
    assert out == ["False"]
