"""The ``config`` command: show or change a running setting, among those
``[console] settable`` lists; a new value passes the same check as in the
file.

What may ever be settable is decided in the code, not in the config file:
:data:`~stanzalink.commands.settings.SETTABLE` lists the keys whose change
is harmless at run time (the status line, the page size, the log level, a
few console timings).  A key that names a file, a program, a role or a
controller, a server, or ``settable`` itself is never in it: ``config set
console.log_file /etc/stanzalink/password`` followed by ``log`` would read
the password, and a widened ``settable`` would let an operator plant a
``reboot_command``.  ``check-config`` refuses a ``settable`` entry outside
the list (:func:`~stanzalink.commands.settings.check_settable`), and the
command checks again before it reads or changes anything."""

from __future__ import annotations

import logging
from typing import Any

from stanzalink.commands.context import Device
from stanzalink.commands.model import CommandError, Invocation, KeyValue
from stanzalink.commands.settings import SETTABLE, Settings


def config_command(inv: Invocation) -> Any:
    from stanzalink.config import ConfigError
    from stanzalink.config_toml import toml_loads

    device = inv.device
    # only what the code allows, whatever the file says
    settable = [k for k in Settings.of(device.config.section("console")).settable if k in SETTABLE]
    action, key, value = inv.args["action"], inv.args["key"], inv.args["value"]
    if not key:
        if action == "set":
            raise CommandError("usage: config set KEY VALUE")
        if not settable:
            return "no setting may be changed here ([console] settable is empty)"
        return KeyValue([(k, current(device, k)) for k in settable], title="settings")
    if key not in settable:
        raise CommandError(
            f"{key}: not a setting that may be read or changed here"
            f" (settable: {', '.join(settable) or 'none'})"
        )
    if action == "get":
        return KeyValue([(key, current(device, key))])
    sec, _, name = key.partition(".")
    known = device.config.schema.get(sec)
    spec = known.keys.get(name) if known is not None else None
    if spec is None:
        raise CommandError(f"{key}: unknown setting")
    try:
        parsed: Any = toml_loads(f"v = {value}")["v"]
    except ValueError:  # tomllib.TOMLDecodeError: not TOML, a string as typed
        parsed = value
    if isinstance(parsed, str):
        parsed = value
    try:
        parsed = spec.check(key, parsed)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    apply_setting(device, key, parsed)
    return KeyValue([(key, current(device, key))], title="changed")


def current(device: Device, key: str) -> str:
    """The value ``key`` has now, as a person reads it, and whether it is
    the default (not in the file, not changed by ``config set``)."""
    sec, _, name = key.partition(".")
    values = device.config.sections.get(sec, {})  # what the file or `config set` gave
    # the status line as announced; anything else from the section, with its
    # owner's defaults filled in
    value: Any = device.status if key == "presence.status" else device.config.section(sec).get(name)
    shown = shown_value(value)
    if name in values:
        return shown
    return "(empty, the default)" if shown == "(empty)" else f"{shown} (the default)"


def shown_value(value: Any) -> str:
    if value is None or value == "" or value == () or value == []:
        return "(empty)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)


def apply_setting(device: Device, key: str, value: Any) -> None:
    sec, _, name = key.partition(".")
    device.config.sections.setdefault(sec, {})[name] = value
    if key == "presence.status":
        device.set_status(value)
    elif key == "presence.priority":
        device.update_presence()
    elif key == "log.level":
        logging.getLogger("stanzalink").setLevel(value.upper())
    device.settings_changed(sec)
