"""Two ways an operator once reached further than its role, each closed
twice: ``check-config`` refuses the ``settable`` entry (naming the key),
and the ``config`` command refuses it even when a config that skipped the
check lists it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from stanzalink.agent import parse_config, schema
from stanzalink.commands.settings import SETTABLE
from stanzalink.config import ConfigError
from tests.console.conftest import Chat

OLGA = "olga@example.net/desk"  # an operator
BASE = {"account": {"jid": "device1@example.net", "password": "pw"}}


def config(settable: list[str]) -> None:
    parse_config({**BASE, "console": {"settable": settable}})


@pytest.mark.parametrize("key", ["console.log_file", "console.settable", "console.reboot_command"])
def test_check_config_refuses_a_dangerous_settable_key_by_name(key: str) -> None:
    with pytest.raises(ConfigError, match=f"console.settable: '{key}' may never be changed"):
        config(["presence.status", key])


def test_nothing_naming_a_file_a_command_a_role_or_a_server_is_settable() -> None:
    # every key of the allow-list is a plain value of a harmless kind
    for key in SETTABLE:
        sec, _, name = key.partition(".")
        assert name in schema()[sec].keys, key
        assert sec not in ("account", "server", "access", "files", "http", "identity"), key
        assert not any(w in name for w in ("file", "command", "path", "settable", "plugin")), key
    config(sorted(SETTABLE))  # and each of them is accepted


async def test_an_operator_cannot_point_log_at_the_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("hunter2-the-xmpp-password\n")
    log = tmp_path / "agent.log"
    log.write_text("INFO started\n")
    # a config that skipped check-config (built in code) still cannot do it
    c = Chat(settable=["presence.status", "console.log_file"], log_file=str(log))
    await c.greet(OLGA)
    answer = await c.ask(f"config set console.log_file {secret}", OLGA)
    assert answer.startswith("console.log_file: not a setting that may be read or changed here")
    out = await c.ask("log", OLGA)
    assert "hunter2" not in out and "started" in out
    await c.close()


async def test_an_operator_cannot_widen_settable_to_plant_a_reboot_command(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "planted"
    c = Chat(settable=["console.settable"], reboot_command=["true"])
    await c.greet(OLGA)
    widened = await c.ask('config set console.settable ["console.reboot_command"]', OLGA)
    assert widened.startswith("console.settable: not a setting")
    planted = await c.ask(
        f'config set console.reboot_command ["/bin/sh", "-c", "touch {marker}"]', OLGA
    )
    assert planted.startswith("console.reboot_command: not a setting")
    # the admin confirms a reboot: the configured command runs, nothing else
    await c.greet()
    assert "Reboot the device now?" in await c.ask("reboot")
    assert "rebooting: true started" in await c.ask("yes")
    await asyncio.sleep(0.1)
    assert not marker.exists()
    assert c.h.agent.config.section("console")["reboot_command"] == ["true"]
    await c.close()
