"""The ``[console]`` section: its keys, their checks and their one default
(:data:`CONSOLE`), and the same as typed values (:class:`Settings`) for the
console, the ad-hoc front end and the commands alike.
``examples/device.toml`` documents the same defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stanzalink.config import (
    Check,
    Checking,
    ConfigError,
    Key,
    Section,
    abs_path,
    abs_paths,
    argv,
    boolean,
    choice,
    int_range,
    num_range,
    positive,
    str_list,
    string,
    text,
)

# the keys "config set" may ever change (each harmless at run time)
SETTABLE = frozenset(
    {
        "presence.status",
        "presence.priority",
        "log.level",
        "console.page_size",
        "console.banner",
        "console.confirm_timeout",
        "console.session_timeout",
    }
)


def check_settable(key: str, items: list[str]) -> list[str]:
    """``items`` (the value of ``[console] settable``) if every one is in
    :data:`SETTABLE`; ValueError naming the first that is not."""
    for item in items:
        if item not in SETTABLE:
            raise ValueError(
                f"{key}: {item!r} may never be changed at run time"
                f" (settable keys: {', '.join(sorted(SETTABLE))})"
            )
    return items


# every [console] key with its one default, in the order the section lists
# its keys (a list where Settings keeps a tuple is a list in the file)
DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "banner": "",  # "": the device model
    "page_size": 16384,  # bytes of plain body per message
    "session_timeout": 900.0,
    "max_sessions": 64,
    "rate": 1.0,  # commands a second, per account
    "burst": 10,
    "max_jobs": 4,  # per account
    "max_jobs_total": 16,
    "confirm_timeout": 60.0,
    "command_timeout": 300.0,  # also ad-hoc commands'
    "max_delay": 120.0,  # also ad-hoc commands'
    "audit_log": None,
    "log_file": None,
    "log_source": "file",  # or "journal"
    "journal_unit": "",
    "settable": (),
    "disk_paths": ("/",),
    "shell": False,
    "shell_timeout": 30.0,
    "output_limit": 65536,
    "reboot_command": ("systemctl", "reboot"),
    "restart_exit_code": 75,
    "plugins": (),
}


class Settings:
    """The ``[console]`` values, typed: ``Settings()`` holds the defaults
    (:data:`DEFAULTS`), keywords override them.  A plain class, not a
    dataclass (that module would stay loaded in a running agent for it);
    nothing compares or changes one."""

    __slots__ = tuple(DEFAULTS)

    enabled: bool
    banner: str
    page_size: int
    session_timeout: float
    max_sessions: int
    rate: float
    burst: int
    max_jobs: int
    max_jobs_total: int
    confirm_timeout: float
    command_timeout: float
    max_delay: float
    audit_log: str | None
    log_file: str | None
    log_source: str
    journal_unit: str
    settable: tuple[str, ...]
    disk_paths: tuple[str, ...]
    shell: bool
    shell_timeout: float
    output_limit: int
    reboot_command: tuple[str, ...]
    restart_exit_code: int
    plugins: tuple[str, ...]

    def __init__(self, **values: Any) -> None:
        unknown = [name for name in values if name not in DEFAULTS]
        if unknown:
            raise TypeError(f"Settings() got an unexpected keyword argument {unknown[0]!r}")
        for name, default in DEFAULTS.items():
            setattr(self, name, values.get(name, default))

    @classmethod
    def of(cls, section: Mapping[str, Any]) -> Settings:
        """The settings of a checked ``[console]`` section (keys that are not
        settings are ignored; numbers are taken as the default's type)."""
        values: dict[str, Any] = {}
        for name, default in DEFAULTS.items():
            if name not in section or section[name] is None:
                continue
            value = section[name]
            kind = type(default)
            if kind is tuple:
                value = tuple(value)
            elif kind in (bool, int, float):
                value = kind(value)
            values[name] = value
        return cls(**values)


# key -> its check; the default is DEFAULTS'
_CHECKS: dict[str, Check] = {
    "enabled": boolean,
    "banner": string,
    "page_size": int_range(1024, 131072),
    "session_timeout": positive,
    "max_sessions": int_range(1, 4096),
    "rate": positive,
    "burst": int_range(1, 1000),
    "max_jobs": int_range(1, 64),
    "max_jobs_total": int_range(1, 256),
    "confirm_timeout": positive,
    "command_timeout": positive,
    "max_delay": num_range(0, 86400),
    "audit_log": abs_path,
    "log_file": abs_path,
    "log_source": choice("file", "journal"),
    "journal_unit": text,
    "settable": str_list,
    "disk_paths": abs_paths,
    "shell": boolean,
    "shell_timeout": positive,
    "output_limit": int_range(1024, 1048576),
    "reboot_command": argv,
    "restart_exit_code": int_range(1, 255),
    "plugins": str_list,
}


def _default(value: Any) -> Any:
    # the file's form of a default: a list where Settings keeps a tuple
    return list(value) if isinstance(value, tuple) else value


def settable_key(key: str, item: str, checking: Checking) -> None:
    """``item`` is a ``section.key`` of the schema that may be changed while
    running: in the allow-list :data:`SETTABLE` (so never one of ``[account]``)."""
    sec, _, name = item.partition(".")
    known = checking.schema.get(sec)
    if known is None or name not in known.keys:
        raise ConfigError(f"{key}: {item!r} is not a section.key of this file")
    if sec == "account":
        raise ConfigError(f"{key}: {item!r}: [account] is never settable (secrets)")
    try:
        check_settable(key, [item])
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _check(values: dict[str, Any], checking: Checking) -> None:
    for item in values["settable"]:
        settable_key("console.settable", item, checking)
    for spec in values["plugins"]:
        # a plugin file (relative to this file's folder) must exist; a module
        # path is imported at start, and a broken one is logged and skipped
        if spec.endswith(".py") or "/" in spec:
            from pathlib import Path  # with a plugin file only (it imports urllib.parse)

            plugin = Path(spec) if Path(spec).is_absolute() else Path(checking.base or ".") / spec
            if not plugin.is_file():
                raise ConfigError(f"console.plugins: {spec}: {plugin} is not a file")


CONSOLE = Section(
    "console",
    {name: Key(_CHECKS[name], _default(default)) for name, default in DEFAULTS.items()},
    _check,
)
