"""The ``[console]`` section: one default per key (commands/settings.py),
read by the console, ad-hoc commands and the built-in commands alike, and
the same as ``examples/device.toml`` shows."""

from __future__ import annotations

from dataclasses import is_dataclass
from pathlib import Path

import pytest

from stanzalink.agent import load_config
from stanzalink.commands.settings import CONSOLE, DEFAULTS, Settings
from stanzalink.console.feature import Console
from stanzalink.xep.adhoc import AdHoc
from stanzalink_testing.harness import Harness

ROOT = Path(__file__).resolve().parents[2]


def test_every_console_key_has_its_default_here() -> None:
    assert list(Settings.__slots__) == list(Settings.__annotations__) == list(DEFAULTS)
    assert list(CONSOLE.keys) == list(DEFAULTS)
    default = Settings()
    for name, key in CONSOLE.keys.items():
        value = getattr(default, name)
        assert value == DEFAULTS[name], name
        # the file's form: a list where Settings keeps a tuple
        assert key.default == (list(value) if isinstance(value, tuple) else value), name
    assert Settings(rate=2.0, plugins=("p",)).rate == 2.0
    with pytest.raises(TypeError):
        Settings(ratee=2.0)


def test_settings_are_a_plain_class() -> None:
    # no dataclass: that module would stay loaded in a running agent for it
    assert not is_dataclass(Settings) and not hasattr(Settings(), "__dict__")


def test_the_example_config_shows_the_defaults() -> None:
    section = load_config(ROOT / "examples" / "device.toml").section("console")
    example, default = Settings.of(section), Settings()
    for key in section:
        if key != "settable":  # the example names one, the default is none
            assert getattr(example, key) == getattr(default, key), key


def test_values_take_the_field_type() -> None:
    s = Settings.of({"rate": 2, "page_size": 4096.0, "disk_paths": ["/", "/data"], "other": 1})
    assert s.rate == 2.0 and isinstance(s.rate, float)
    assert s.page_size == 4096 and isinstance(s.page_size, int)
    assert s.disk_paths == ("/", "/data")
    assert Settings.of({"audit_log": None}).audit_log is None


async def test_both_front_ends_read_the_same_defaults() -> None:
    h = Harness([Console, AdHoc], {})
    console, adhoc, default = h.feature(Console), h.feature(AdHoc), Settings()
    assert console.max_delay == adhoc.max_delay == default.max_delay
    assert console.command_timeout == adhoc.command_timeout == default.command_timeout
    assert console.page_size == default.page_size
    assert console.max_jobs_total == default.max_jobs_total
    await h.close()
    h = Harness([Console, AdHoc], {}, console={"max_delay": 5, "command_timeout": 7})
    assert h.feature(Console).max_delay == h.feature(AdHoc).max_delay == 5.0
    assert h.feature(Console).command_timeout == h.feature(AdHoc).command_timeout == 7.0
    await h.close()
