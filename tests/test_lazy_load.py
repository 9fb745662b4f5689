"""The agent loads a feature's code only when the config turns it on or its
first stanza comes (stanzalink.features), and answers the same either way:
the disco#info answer and the entity capabilities hash do not depend on
what is loaded, and a first stanza gets the answer the loaded feature gives.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from stanzalink.agent import FEATURES, load_feature, parse_config, schema
from stanzalink.config import Checking, ConfigError, DeclaredElsewhere
from stanzalink.features import FEATURE_SECTIONS, LAZY, Unloaded, load_object
from stanzalink.xep.base import Feature
from stanzalink.xep.caps import Caps
from stanzalink.xep.disco import ItemLister, NodeOwner
from stanzalink_testing.harness import Harness

from .util import agent_pythonpath, python_cmd

# modules a default-config agent must not load at start: the lazy features'
# code and what only they (or only some configs) need
NOT_AT_START = [
    "stanzalink.xep.ping",
    "stanzalink.xep.version",
    "stanzalink.xep.time",
    "stanzalink.console.feature",
    "stanzalink.commands.builtin",
    "stanzalink.commands.plugins",
    "stanzalink.commands.model",
    "stanzalink.commands.registry",
    "stanzalink.xep.adhoc",
    "stanzalink.xep.bytestreams",
    "stanzalink.xep.http.feature",
    "stanzalink.xep.http.codec",
    "stanzalink.net.http_origin",
    "stanzalink.net.s5b",
    "stanzalink.net.socks5",
    "stanzalink.xep.ibb",
    "stanzalink.xep.jingle.core",
    "stanzalink.xep.jingle.file_transfer",
    "stanzalink.xep.hashes",
    "stanzalink.xep.forms",
    "stanzalink.fleet.core",
    # the standard library: none of this is in the floor (asyncio, ssl)
    "json",
    "tempfile",
    "random",
    "logging.handlers",
    "pickle",
    "queue",
    "http",
    "http.client",
    "email",
    "urllib.request",
    "platform",
    "difflib",
    "secrets",
    "shlex",
    # argparse's formatters would import shutil (with bz2, lzma, fnmatch)
    # for the terminal's width: the command line's own formatters do not
    "shutil",
    "bz2",
    "lzma",
    # pathlib imports urllib.parse, which imports ipaddress: the config
    # joins its paths with os.path; a keys file, a plugin file or an HTTP
    # origin loads them
    "pathlib",
    "urllib.parse",
    "ipaddress",
    # the vCard feature: [identity] sets none of its keys
    "stanzalink.xep.vcard",
]

ACCESS = {"admin": ["alice@example.net"], "viewer": ["viewer@example.net"]}
DEFAULT = {
    "account": {"jid": "device1@example.net", "password": "pw"},
    "access": ACCESS,
}

# what `stanzalink run` does before it connects: the config, the log, the
# agent (the child itself imports only what the floor has: ast, sys)
START = textwrap.dedent(
    """
    import ast, asyncio, logging, sys
    from stanzalink.agent import Agent, parse_config
    from stanzalink.cli import parse_args
    from stanzalink.cli.run import setup_run_logging
    parse_args(["run", "--config", sys.argv[1]])  # what `stanzalink run` parses with
    cfg = parse_config(ast.literal_eval(sys.argv[1]))
    recent = setup_run_logging(logging.INFO)
    async def main():
        Agent(cfg, recent_log=recent)
    asyncio.run(main())
    print(" ".join(sorted(sys.modules)))
    """
)


def modules_after_start(raw: dict[str, Any]) -> set[str]:
    out = subprocess.run(
        [*python_cmd(), "-c", START, repr(raw)],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": agent_pythonpath()},
        timeout=120,
    )
    return set(out.stdout.splitlines()[-1].split())


def test_a_default_agent_leaves_the_lazy_features_unloaded() -> None:
    loaded = modules_after_start(DEFAULT)
    assert "stanzalink.features" in loaded and "stanzalink.xep.caps" in loaded
    assert sorted(set(NOT_AT_START) & loaded) == []


def test_the_config_turns_a_group_on_at_start() -> None:
    raw = {**DEFAULT, "http": {"origin": "http://127.0.0.1:9"}, "files": {"export": ["/tmp"]}}
    loaded = modules_after_start(raw)
    for name in ("stanzalink.xep.http.feature", "stanzalink.xep.jingle.file_transfer"):
        assert name in loaded
    assert "stanzalink.console.feature" not in loaded


def test_an_identity_card_loads_the_vcard_at_start() -> None:
    # it publishes the card at login and, with a photo, watches the file
    assert "stanzalink.xep.vcard" in modules_after_start({**DEFAULT, "identity": {"name": "x"}})
    assert "stanzalink.xep.vcard" not in modules_after_start(
        {**DEFAULT, "identity": {"public": ["model"]}}
    )


# ------------------------------------------------------------ the table and the code
def every() -> list[type[Feature]]:
    return [load_feature(s) for s in FEATURES]


def test_the_sections_come_from_the_light_modules() -> None:
    lazy = schema()
    assert list(lazy) == list(schema(every()))
    for name, sec in schema(every()).items():
        known = lazy[name]
        assert (known.real() if isinstance(known, DeclaredElsewhere) else known) is sec, name
    assert list(FEATURE_SECTIONS) == ["identity", "console", "adhoc", "files", "http"]
    assert all(load_object(spec).name == name for name, spec in FEATURE_SECTIONS.items())


def test_a_section_the_file_leaves_out_passes_its_check_on_its_defaults() -> None:
    """What parse() skips for a section declared elsewhere and not in the
    file: its check on its defaults, whatever the other sections say."""
    examples = Path(__file__).resolve().parents[1] / "examples"
    full = tomllib.loads((examples / "device.toml").read_text())
    for given in ({}, DEFAULT, full):
        known = schema()
        checking = Checking(None, known, {s: dict(v) for s, v in given.items()})
        for name in FEATURE_SECTIONS:
            sec = known[name]
            assert isinstance(sec, DeclaredElsewhere)
            if sec.check is not None:
                sec.check(sec.defaults(), checking)


def test_what_turns_a_group_on_is_off_by_default() -> None:
    # GROUP_ON reads what the file gives, not the defaults
    files, http = schema()["files"].defaults(), schema()["http"].defaults()
    assert not (files["inbox"] or files["export"] or files["socks5"])
    assert not (http["origin"] or http["wsgi_app"])


def test_a_config_without_the_features_sections_imports_none_of_them() -> None:
    loaded = modules_after_start(DEFAULT)
    for spec in FEATURE_SECTIONS.values():
        module = spec.split(":")[0]
        assert module == "stanzalink.xep.identity" or module not in loaded, module
    # given in the file, a section is imported and checked
    with pytest.raises(ConfigError, match="give only one of them"):
        parse_config({**DEFAULT, "http": {"origin": "http://127.0.0.1:9", "wsgi_app": "a.b:app"}})
    assert "stanzalink.xep.http.settings" in modules_after_start(
        {**DEFAULT, "http": {"timeout": 5.0}}
    )


async def test_the_lazy_table_says_what_the_code_declares() -> None:
    eager = Harness(every(), access=ACCESS)
    by_spec = {s: eager.agent.feature(load_feature(s)) for s in FEATURES}
    groups: dict[str, set[tuple[str, str]]] = {}
    for lazy in LAZY.values():
        groups.setdefault(lazy.group, set()).update(lazy.iq)
    for spec, lazy in LAZY.items():
        feat, cls = by_spec[spec], load_feature(spec)
        assert feat is not None
        assert tuple(feat.disco_features) == lazy.disco_features, spec
        assert {(r.type, r.tag) for r in feat.iq_routes()} == set(lazy.iq), spec
        assert isinstance(feat, NodeOwner) == lazy.nodes, spec
        # what a stand-in cannot give without the code
        assert cls.identities == () and not isinstance(feat, ItemLister), spec
        if lazy.presence is None:
            assert cls.presence_payload is Feature.presence_payload, spec
        else:  # the same elements the feature adds with its group off
            assert [ET.tostring(e.to_etree()) for e in lazy.presence()] == [
                ET.tostring(e.to_etree()) for e in feat.presence_payload()
            ], spec
        assert cls.disco_extensions is Feature.disco_extensions, spec
        # a feature that takes messages or presences before any IQ of its
        # group must say so
        takes = cls.on_message is not Feature.on_message or (
            cls.on_presence is not Feature.on_presence
        )
        assert not takes or lazy.controllers or groups[lazy.group], spec
        # what it requires is always loaded, or loads with it
        for need in cls.requires:
            provider = next(s for s in FEATURES if issubclass(load_feature(s), need))
            assert provider not in LAZY or LAZY[provider].group == lazy.group, spec


# ------------------------------------------------------------ the same answers
DISCO_INFO = (
    "<iq type='get' id='{id}' from='viewer@example.net/x'>"
    "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
)

# stanzas that load a lazy group, each with a deterministic answer
FIRST_STANZAS = [
    "<iq type='get' id='p1' from='viewer@example.net/x'><ping xmlns='urn:xmpp:ping'/></iq>",
    "<iq type='get' id='v1' from='viewer@example.net/x'><query xmlns='jabber:iq:version'/></iq>",
    "<iq type='get' id='c1' from='viewer@example.net/x'><vCard xmlns='vcard-temp'/></iq>",
    "<iq type='get' id='n1' from='alice@example.net/x'>"
    "<query xmlns='http://jabber.org/protocol/disco#items'"
    " node='http://jabber.org/protocol/commands'/></iq>",
    "<iq type='set' id='h1' from='alice@example.net/x'><req xmlns='urn:xmpp:http' method='GET'"
    " resource='/' version='1.1'/></iq>",
    "<iq type='set' id='i1' from='alice@example.net/x'><open xmlns='http://jabber.org/protocol/ibb'"
    " sid='s1' block-size='4096'/></iq>",
    "<iq type='set' id='j1' from='alice@example.net/x'><jingle xmlns='urn:xmpp:jingle:1'"
    " action='session-info' sid='nope'/></iq>",
]


async def answer(h: Harness, xml: str) -> str:
    h.receive(xml)
    await h.settle(20)
    reply = await h.next_sent()
    return (
        str(reply.tag)
        + " "
        + json.dumps(dict(reply.attrib), sort_keys=True)
        + " "
        + (" ".join(sorted(f"{c.tag}{sorted(c.attrib.items())}" for c in reply.iter())))
    )


@pytest.mark.parametrize(
    "sections",
    [
        {},
        {"http": {"origin": "http://127.0.0.1:9"}, "files": {"export": ["/tmp"]}},
        {"files": {"socks5": True}},
        {"http": {"paths": {"/": "viewer"}}},
        {"identity": {"name": "Boiler", "model": "B-1"}},
    ],
    ids=["default", "http-and-files", "socks5-only", "http-without-origin", "identity"],
)
async def test_disco_caps_and_first_answers_are_the_same(sections: dict[str, Any]) -> None:
    lazy = Harness(None, access=ACCESS, **sections)
    eager = Harness(every(), access=ACCESS, **sections)
    ver = eager.feature(Caps).ver
    assert ver is not None and lazy.feature(Caps).ver == ver
    assert await answer(lazy, DISCO_INFO.format(id="d0")) == await answer(
        eager, DISCO_INFO.format(id="d0")
    )
    for xml in FIRST_STANZAS:
        assert await answer(lazy, xml) == await answer(eager, xml), xml
    # everything the stanzas reached is loaded now; the hash stays
    assert lazy.feature(Caps).ver == ver
    assert await answer(lazy, DISCO_INFO.format(id="d1")) == await answer(
        eager, DISCO_INFO.format(id="d1")
    )


async def test_a_stranger_loads_nothing() -> None:
    h = Harness(None, access=ACCESS)
    h.receive(
        "<iq type='get' id='p1' from='stranger@example.org/x'><ping xmlns='urn:xmpp:ping'/></iq>"
    )
    await h.settle(20)
    reply = await h.next_sent()
    assert reply.get("type") == "error"
    assert reply.find(".//{urn:ietf:params:xml:ns:xmpp-stanzas}service-unavailable") is not None
    h.receive("<presence from='stranger@example.org/x'/>")
    h.receive("<message from='stranger@example.org/x' type='chat'><body>help</body></message>")
    await h.settle(20)
    assert all(isinstance(f, Unloaded) for f in h.agent.features() if f.name in ("ping", "console"))


async def test_a_controllers_message_loads_the_console() -> None:
    h = Harness(None, access=ACCESS)
    console = next(f for f in h.agent.features() if f.name == "console")
    assert isinstance(console, Unloaded)
    h.receive("<message from='alice@example.net/x' type='chat'><body>help</body></message>")
    await h.settle(20)
    reply = await h.next_sent()
    assert reply.tag == "{jabber:client}message" and reply.findtext("{jabber:client}body")
    assert not any(isinstance(f, Unloaded) and f.name == "console" for f in h.agent.features())


async def test_asking_for_a_feature_loads_its_group() -> None:
    from stanzalink.xep.jingle.core import Jingle
    from stanzalink.xep.jingle.file_transfer import Files

    h = Harness(None, access=ACCESS)
    files = h.agent.files()
    assert isinstance(files, Files)
    # the whole group came with it, each once, in the list's order
    assert h.feature(Jingle) is h.agent.feature(Jingle)
    assert not any(isinstance(f, Unloaded) and f.lazy.group == "files" for f in h.agent.features())
    assert [type(f).__name__ for f in h.agent.features()] == [
        s.rsplit(":", 1)[1] if s not in LAZY or LAZY[s].group == "files" else "Unloaded"
        for s in FEATURES
    ]


async def test_the_caps_node_loads_no_command_code() -> None:
    h = Harness(None, access=ACCESS)
    caps = h.feature(Caps)
    h.receive(
        "<iq type='get' id='c1' from='example.net'><query"
        f" xmlns='http://jabber.org/protocol/disco#info' node='{caps.node}#{caps.ver}'/></iq>"
    )
    await h.settle(20)
    reply = await h.next_sent()
    assert reply.get("type") == "result"
    adhoc = next(f for f in h.agent.features() if f.name == "adhoc")
    assert isinstance(adhoc, Unloaded)


async def test_only_an_available_presence_loads_the_console() -> None:
    from stanzalink.jid import JID

    h = Harness(None, access=ACCESS)
    # what the server answers the roster's probe of an offline controller
    h.receive("<presence from='alice@example.net' type='unavailable'/>")
    await h.settle()
    assert h.agent.controllers_seen() == {}
    assert any(isinstance(f, Unloaded) and f.name == "console" for f in h.agent.features())
    h.receive("<presence from='alice@example.net/phone'/>")
    await h.settle()
    assert list(h.agent.controllers_seen()) == [JID.parse("alice@example.net/phone")]
