"""The assembled schema: each section declared once, next to the code that
reads it; every default written once, and shown as it is in
``examples/device.toml``; config.py itself generic."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from stanzalink import config
from stanzalink.agent import FEATURES, load_feature, parse_config, schema
from stanzalink.commands.settings import Settings
from stanzalink.config import (
    Checking,
    ConfigError,
    DeclaredElsewhere,
    DeviceConfig,
    Key,
    Section,
    integer,
    schema_of,
)
from stanzalink.features import Lazy
from stanzalink.jid import JID
from stanzalink.xep.base import Feature
from stanzalink.xep.files_config import FILES
from stanzalink.xep.jingle import Jingle
from stanzalink.xep.jingle.file_transfer import Files
from stanzalink_testing.harness import Harness

from .util import python_cmd

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "device.toml"
MINIMAL = {"account": {"jid": "d@example.net", "password": "p"}}

# commented-out keys that show an example value (their default is named in words)
EXAMPLE_COMMENTED = {"files.direct_host", "console.banner", "console.journal_unit"}


def _example_lines() -> list[tuple[str, str, bool, Any, bool]]:
    """(section, key, commented, value, marked) of every ``key = value`` line;
    ``marked``: its comment starts with "example:" (a value to adapt)."""
    out: list[tuple[str, str, bool, Any, bool]] = []
    section = ""
    for line in EXAMPLE.read_text().splitlines():
        m = re.match(r"^\[(\w+)\]", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"^(# ?)?(\w+ = .*?)\s*(#.*)?$", line)
        if not (m and section):
            continue
        try:
            ((key, value),) = tomllib.loads(m.group(2)).items()
        except tomllib.TOMLDecodeError:  # a comment that merely looks like a key
            continue
        marked = (m.group(3) or "").lstrip("# ").startswith("example:")
        out.append((section, key, m.group(1) is not None, value, marked))
    return out


def test_config_py_imports_no_feature() -> None:
    # a fresh interpreter: what importing config.py loads, lazily or not, is
    # the ground floor only (tests/test_house.py reads the same from the source)
    res = subprocess.run(
        [
            *python_cmd(),
            "-c",
            "import sys, stanzalink.config\n"
            "print(' '.join(m for m in sys.modules if m.startswith('stanzalink')))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded = set(res.stdout.split())
    assert "stanzalink.config" in loaded
    ground = {"stanzalink", "stanzalink.config", "stanzalink.jid", "stanzalink._value"}
    assert loaded <= ground | {"stanzalink.errors", "stanzalink.ns"}, loaded - ground


def test_the_schema_is_assembled_from_the_features() -> None:
    known = schema()
    assert list(known)[:3] == ["account", "server", "connection"]
    for spec in FEATURES:
        for sec in load_feature(spec).config_sections:
            found = known[sec.name]
            if isinstance(found, DeclaredElsewhere):  # the same declaration, imported when read
                found = found.real()
            assert found is sec, spec
    # a feature alone brings its own section, and nothing another feature reads
    assert "files" in schema([Files]) and "http" not in schema([Files])
    with pytest.raises(ConfigError, match=r"^\[http\]: unknown section"):
        parse_config({**MINIMAL, "http": {}}, features=[Files])


def test_one_owner_per_section() -> None:
    with pytest.raises(ValueError, match=r"\[files\] is declared twice"):
        schema_of([FILES, Section("files", {})])
    assert schema_of([FILES, FILES]) == {"files": FILES}


def test_every_default_passes_its_own_check() -> None:
    for name, sec in schema().items():
        for key, spec in sec.keys.items():
            # None, or "" for a text, stands for a key left out
            if spec.default not in (None, "") and not spec.file:
                assert spec.check(f"{name}.{key}", spec.default) == spec.default, (name, key)


def test_the_example_shows_the_defaults() -> None:
    known = schema()
    seen = 0
    marked_seen = 0
    for section, key, commented, value, marked in _example_lines():
        name = f"{section}.{key}"
        default = known[section].keys[key].default
        if marked:
            # a value to adapt says so, and is not the default
            assert value != default, f"{name}: marked as an example, but it is the default"
            marked_seen += 1
            continue
        if commented and (default is None or name in EXAMPLE_COMMENTED):
            continue
        assert value == default, (
            f"{name}: the example shows {value!r}, the default is {default!r}; "
            'mark a value to adapt with a comment starting "example:"'
        )
        seen += 1
    assert marked_seen >= 10
    assert seen > 50  # most keys are shown with their default


def test_a_section_reads_with_its_defaults() -> None:
    cfg = parse_config({**MINIMAL, "files": {"max_size": 10}})
    files = cfg.section("files")
    assert files["max_size"] == 10 and files["min_free"] == 64 << 20 and files["inbox"] is None
    assert cfg.sections["files"] == {"max_size": 10}  # what the file says, for "config get"
    # a config built by hand reads the same defaults through the section
    hand = DeviceConfig(jid=JID.parse("d@example.net"), password="p")
    assert FILES.of(hand) == FILES.defaults()
    assert FILES.of(hand)["export"] is not FILES.of(hand)["export"]  # each reader its own list


async def test_the_agent_gives_a_hand_built_config_its_schema() -> None:
    hand = DeviceConfig(jid=JID.parse("d@example.net"), password="p")
    h = Harness([Jingle, Files], jid="d@example.net/agent", config=hand)
    assert h.agent.config is hand and "http" not in hand.schema
    assert hand.section("files")["role_get"] == "viewer"
    assert hand.section("connection")["keepalive"] == 3600.0
    await h.close()


def test_a_cross_key_check_sees_the_defaults_and_the_folder(tmp_path: Path) -> None:
    seen: list[tuple[dict[str, Any], Path | None]] = []
    sec = Section(
        "demo",
        {"low": Key(integer, 1), "high": Key(integer, 10)},
        lambda values, checking: seen.append((values, checking.base)),
    )
    values = config.parse({"demo": {"low": 3}}, {"demo": sec}, tmp_path)
    assert values == {"demo": {"low": 3}}
    assert seen == [({"low": 3, "high": 10}, tmp_path)]
    config.parse({}, {"demo": sec})  # run when the file has no such section too
    assert seen[-1] == ({"low": 1, "high": 10}, None)


def test_features_declare_sections_as_a_typed_class_attribute() -> None:
    assert Feature.config_sections == ()
    for spec in FEATURES:
        feature = load_feature(spec)
        assert all(isinstance(s, Section) for s in feature.config_sections), spec


def test_settable_names_a_key_of_the_assembled_schema() -> None:
    from stanzalink.console.feature import Console

    raw = {**MINIMAL, "console": {"settable": ["http.timeout"]}}
    # a key of the schema, but not one the allow-list lets change at run time
    with pytest.raises(ConfigError, match=r"^console\.settable: 'http\.timeout' may never be"):
        parse_config(raw)
    raw["console"]["settable"] = ["presence.status", "console.page_size"]
    assert parse_config(raw).section("console")["settable"] == raw["console"]["settable"]
    raw["console"]["settable"] = ["http.timeout"]
    with pytest.raises(ConfigError, match=r"^console\.settable: 'http\.timeout' is not a section"):
        parse_config(raw, features=[Console])  # no [http] without its feature
    raw["console"]["settable"] = ["account.resource"]
    with pytest.raises(ConfigError, match=r"\[account\] is never settable"):
        parse_config(raw)


@pytest.mark.parametrize("cls", [Key, Checking, Section, DeviceConfig, Lazy, Settings])
def test_the_config_classes_are_plain(cls: type) -> None:
    # not dataclasses: that module, and the methods it writes for each class,
    # would stay loaded in a running agent
    assert not dataclasses.is_dataclass(cls)
    assert "__dict__" not in dir(cls) and cls.__slots__


def test_a_hand_built_config_keeps_what_it_is_given() -> None:
    jid = JID.parse("d@example.net")
    bare = DeviceConfig(jid, None)
    assert (bare.access, bare.sections, bare.base, bare.schema) == ({}, {}, None, {})
    assert bare.access is not DeviceConfig(jid, None).access  # each its own
    access, sections = {"admin": ["a@example.net"]}, {"files": {"max_size": 1}}
    cfg = DeviceConfig(jid=jid, password="p", access=access, sections=sections, base="/etc")
    assert cfg.access is access and cfg.sections is sections and cfg.base == "/etc"
    cfg.password = None  # a config may change (a password changed on the server)
    assert cfg.password is None
    key = Key(integer)
    assert (key.check, key.default, key.doc, key.file) == (integer, None, "", False)
    assert Checking(None, {}).given == {}
