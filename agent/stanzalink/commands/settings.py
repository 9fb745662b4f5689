"""The ``[console]`` section as typed values, each with its one default.

config.py checks the keys when the file is read (types and ranges); this
is where a key that is absent gets its value, for the console, the ad-hoc
front end and the commands alike.  ``examples/device.toml`` documents the
same defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

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


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    banner: str = ""  # "": the device model
    page_size: int = 16384  # bytes of plain body per message
    session_timeout: float = 900.0
    max_sessions: int = 64
    rate: float = 1.0  # commands a second, per account
    burst: int = 10
    max_jobs: int = 4  # per account
    max_jobs_total: int = 16
    confirm_timeout: float = 60.0
    command_timeout: float = 300.0  # also ad-hoc commands'
    max_delay: float = 120.0  # also ad-hoc commands'
    audit_log: str | None = None
    log_file: str | None = None
    log_source: str = "file"  # or "journal"
    journal_unit: str = ""
    settable: tuple[str, ...] = ()
    disk_paths: tuple[str, ...] = ("/",)
    shell: bool = False
    shell_timeout: float = 30.0
    output_limit: int = 65536
    reboot_command: tuple[str, ...] = ("systemctl", "reboot")
    restart_exit_code: int = 75
    plugins: tuple[str, ...] = ()

    @classmethod
    def of(cls, section: Mapping[str, Any]) -> Settings:
        """The settings of a checked ``[console]`` section (keys that are not
        settings are ignored; numbers are taken as the field's type)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in section or section[f.name] is None:
                continue
            value = section[f.name]
            kind = type(f.default)
            if kind is tuple:
                value = tuple(value)
            elif kind in (bool, int, float):
                value = kind(value)
            values[f.name] = value
        return cls(**values)
