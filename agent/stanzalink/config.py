"""The device configuration: a TOML file, checked completely at start.

This module is generic: it knows how a section is declared (:class:`Key`,
:class:`Section`), the checks keys are built from, and how a file is read
and checked against a schema (:func:`load`, :func:`parse`).  It names no
section: each feature declares its own next to its code, and the agent
assembles the schema from its own sections and those of the features it
loads (:func:`stanzalink.agent.load_config`).

Every key is documented in ``examples/device.toml``.  A key that is not
known, or a value of the wrong type or range, is refused with a message
that names the key: a device must not start half-configured.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias

from stanzalink.jid import JID, InvalidJID

# a file path, given as a string or as a path object
StrPath: TypeAlias = "str | os.PathLike[str]"

Check = Callable[[str, Any], Any]


class ConfigError(ValueError):
    """The configuration is wrong; the message names the key."""


# The classes below are plain ones with __slots__ (not dataclasses: that
# module and the methods it generates for each class would stay loaded in a
# running agent for nothing).  None is compared or hashed; only a
# DeviceConfig changes once made (its password, the schema the agent gives
# a config built by hand).


class Key:
    """One key of a section: its check (``check(name, value)`` returns the
    value to keep or raises :class:`ConfigError`), its one default (what a
    reader sees when the file leaves the key out; ``None``: off or absent),
    and whether it names a file (then a relative path is from the config
    file's folder)."""

    __slots__ = ("check", "default", "doc", "file")

    def __init__(
        self, check: Check, default: Any = None, doc: str = "", file: bool = False
    ) -> None:
        self.check = check
        self.default = default
        self.doc = doc
        self.file = file


class Checking:
    """What a section's cross-key check may look at besides its values: the
    config file's folder, the whole schema, and what the file gives in
    the other sections (``given``, checked; the ``[access]`` check reads
    ``[account]``)."""

    __slots__ = ("base", "given", "schema")

    def __init__(
        self,
        base: str | None,
        schema: Mapping[str, Section],
        given: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.base = base
        self.schema = schema
        self.given = {} if given is None else given


class Section:
    """A ``[name]`` table: its keys and an optional check across them,
    ``check(values, checking)`` (values with the defaults filled in), run
    whether or not the file has the section."""

    __slots__ = ("check", "keys", "name")

    def __init__(
        self,
        name: str,
        keys: Mapping[str, Key],
        check: Callable[[dict[str, Any], Checking], None] | None = None,
    ) -> None:
        self.name = name
        self.keys = keys
        self.check = check

    def defaults(self) -> dict[str, Any]:
        return {name: _fresh(key.default) for name, key in self.keys.items()}

    def of(self, config: Any) -> dict[str, Any]:
        """This section's values in ``config`` (anything with a
        ``section(name)`` mapping, e.g. :class:`DeviceConfig`), every key
        present: the default where the file left it out."""
        return {**self.defaults(), **config.section(self.name)}


class DeclaredElsewhere(Section):
    """A section known here by name, declared in the module ``spec``
    names (``module:NAME``), which is imported when its keys or its check
    are first read: a feature's section the file does not have costs no
    code.  :func:`parse` checks such a section only when the file has it
    (its check on its defaults alone passes: tests/test_lazy_load.py holds
    the agent's to that)."""

    __slots__ = ("_real", "spec")

    def __init__(self, name: str, spec: str) -> None:  # keys and check: the module's
        self.name = name
        self.spec = spec
        self._real: Section | None = None

    @property
    def imported(self) -> bool:
        return self._real is not None

    def real(self) -> Section:
        """The declaration itself (imported now if it was not)."""
        if self._real is None:
            import importlib

            module, _, attr = self.spec.partition(":")
            real = getattr(importlib.import_module(module), attr)
            if not isinstance(real, Section) or real.name != self.name:
                raise TypeError(f"{self.spec} is not the [{self.name}] section")
            self._real = real
        return self._real

    # read-only here: the declaration's (mypy: Section's are plain attributes)
    @property
    def keys(self) -> Mapping[str, Key]:  # type: ignore[override]
        return self.real().keys

    @property
    def check(self) -> Callable[[dict[str, Any], Checking], None] | None:  # type: ignore[override]
        return self.real().check


def _fresh(value: Any) -> Any:
    # a list or table default is handed out as a copy: a reader may change its own
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


def schema_of(sections: Iterable[Section]) -> dict[str, Section]:
    """The schema of ``sections`` by name (a section named twice must be the
    same declaration: one owner per section)."""
    schema: dict[str, Section] = {}
    for sec in sections:
        known = schema.setdefault(sec.name, sec)
        if known is not sec:
            raise ValueError(f"[{sec.name}] is declared twice")
    return schema


class DeviceConfig:
    """A checked configuration: the device's JID and password (the values the
    ``[account]`` check derives), the controllers by role (``[access]``), and
    every checked value by section.  ``schema``: the sections the file was
    checked against (empty for a config built by hand)."""

    __slots__ = ("access", "base", "jid", "password", "schema", "sections")

    def __init__(
        self,
        jid: JID,
        password: str | None,
        access: dict[str, list[str]] | None = None,
        sections: dict[str, dict[str, Any]] | None = None,
        base: str | None = None,
        schema: dict[str, Section] | None = None,
    ) -> None:
        self.jid = jid
        self.password = password
        self.access: dict[str, list[str]] = {} if access is None else access
        # the values the file gives, by section (without the defaults)
        self.sections: dict[str, dict[str, Any]] = {} if sections is None else sections
        self.base = base  # the config file's folder
        self.schema: dict[str, Section] = {} if schema is None else schema

    def section(self, name: str) -> dict[str, Any]:
        """The checked keys of ``[name]``, with the defaults of the schema for
        the keys the file leaves out (empty when the schema does not know
        the section and the file has none)."""
        known = self.schema.get(name)
        given = self.sections.get(name, {})
        return {**known.defaults(), **given} if known is not None else dict(given)


# The checks a key is built from: ``check(name, value)`` returns the value to
# keep, or raises ConfigError naming the key.


def _type(expected: type | tuple[type, ...], what: str) -> Callable[[str, Any], Any]:
    def check(key: str, value: Any) -> Any:
        if isinstance(value, bool) and bool not in (
            expected if isinstance(expected, tuple) else (expected,)
        ):
            raise ConfigError(f"{key}: expected {what}, got {value!r}")
        if not isinstance(value, expected):
            raise ConfigError(f"{key}: expected {what}, got {type(value).__name__} {value!r}")
        return value

    return check


string = _type(str, "a string")
boolean = _type(bool, "true or false")
integer = _type(int, "an integer")
_any_number = _type((int, float), "a number")


def number(key: str, value: Any) -> Any:
    """An integer or a finite float: TOML's nan and inf pass every range
    check (nan compares false) and make a wait of nan, which asyncio does
    not wait at all."""
    v = _any_number(key, value)
    if isinstance(v, float) and not math.isfinite(v):
        raise ConfigError(f"{key}: expected a finite number, got {v}")
    return v


def port(key: str, value: Any) -> int:
    v = integer(key, value)
    if not 0 < v < 65536:
        raise ConfigError(f"{key}: {v} is not a TCP port (1-65535)")
    return int(v)


def positive(key: str, value: Any) -> float:
    v = number(key, value)
    if v <= 0:
        raise ConfigError(f"{key}: must be greater than 0, got {v}")
    return float(v)


def count(key: str, value: Any) -> int:
    v = integer(key, value)
    if v < 1:
        raise ConfigError(f"{key}: must be at least 1, got {v}")
    return int(v)


def text(key: str, value: Any) -> str:
    v = string(key, value)
    if not v.strip():
        raise ConfigError(f"{key}: must not be empty (leave the key out for the default)")
    return str(v)


def abs_path(key: str, value: Any) -> str:
    v = text(key, value)
    if not v.startswith("/"):
        raise ConfigError(f"{key}: {v!r} must be an absolute path")
    return str(v)


def abs_paths(key: str, value: Any) -> list[str]:
    return [abs_path(key, v) for v in str_list(key, value)]


def jid_text(key: str, value: Any) -> str:
    v = text(key, value)
    try:
        JID.parse(v)
    except InvalidJID as exc:
        raise ConfigError(f"{key}: {v!r} is not a JID: {exc}") from None
    return str(v)


def str_list(key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key}: expected a list of strings, got {value!r}")
    return list(value)


def state_file(key: str, value: Any) -> str:
    """A file the agent writes (it may not exist yet; its folder is checked
    with the rest of [account])."""
    return text(key, value)


def file(key: str, value: Any) -> str:
    path = string(key, value)
    if not os.path.isfile(path):
        raise ConfigError(f"{key}: {path} does not exist or is not a file")
    return str(path)


def choice(*options: str) -> Callable[[str, Any], str]:
    def check(key: str, value: Any) -> str:
        v = string(key, value)
        if v not in options:
            raise ConfigError(f"{key}: {v!r} is not one of {', '.join(options)}")
        return str(v)

    return check


def num_range(low: float, high: float) -> Callable[[str, Any], float]:
    def check(key: str, value: Any) -> float:
        v = number(key, value)
        if not low <= v <= high:
            raise ConfigError(f"{key}: must be between {low:g} and {high:g}, got {v}")
        return float(v)

    return check


def int_range(lo: int, hi: int) -> Callable[[str, Any], int]:
    def check(key: str, value: Any) -> int:
        v = integer(key, value)
        if not lo <= v <= hi:
            raise ConfigError(f"{key}: must be between {lo} and {hi}, got {v}")
        return int(v)

    return check


def argv(key: str, value: Any) -> list[str]:
    v = str_list(key, value)
    if not v or not v[0]:
        raise ConfigError(f"{key}: expected a command as a non-empty list of strings")
    return v


def size(key: str, value: Any) -> int:
    v = integer(key, value)
    if v < 0:
        raise ConfigError(f"{key}: a size in bytes cannot be negative, got {v}")
    return int(v)


MAX_CONFIG_BYTES = 1 << 20  # a config is a few KiB; /dev/zero has no end


def read_toml(path: StrPath) -> dict[str, Any]:
    """The TOML file at ``path``, read once (it may be a pipe: /dev/stdin)
    and at most MAX_CONFIG_BYTES."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path} is larger than {MAX_CONFIG_BYTES} bytes: not a config")
    from stanzalink.config_toml import toml_loads

    try:
        values = toml_loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: not UTF-8 ({exc.reason})") from None
    except ValueError as exc:  # tomllib.TOMLDecodeError
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return values


# os.path rather than pathlib: pathlib imports urllib.parse and ipaddress,
# over half a MiB that a running agent would hold for these two functions
def folder_of(path: StrPath) -> str:
    """The folder of the file ``path``, absolute."""
    return os.path.dirname(os.path.abspath(path))


def _beside(base: str, value: Any) -> Any:
    """A relative file path of the config, as the path from the config
    file's folder (the working directory of a service is not the config's
    folder), spelled as pathlib joins it (no empty or ``.`` parts);
    anything else as it is, for the key's own check."""
    if isinstance(value, str) and value.strip() and not os.path.isabs(value):
        return os.path.join(base, *(p for p in value.split("/") if p not in ("", ".")))
    return value


def _did_you_mean(word: str, known: Any) -> str:
    from difflib import get_close_matches

    close = get_close_matches(word, list(known), n=1)
    return f", did you mean {close[0]!r}?" if close else ""


def parse(
    raw: Mapping[str, Any], schema: Mapping[str, Section], base: str | None = None
) -> dict[str, dict[str, Any]]:
    """The values ``raw`` gives, checked against ``schema``, by section (keys
    the file leaves out are not filled in); then every section's cross-key
    check, in the schema's order, on its values with the defaults (a
    section :class:`DeclaredElsewhere` and not imported: when the file has
    it)."""
    values: dict[str, dict[str, Any]] = {}
    for section, body in raw.items():
        if section not in schema:
            if not isinstance(body, dict):
                owners = [s for s, sec in schema.items() if section in sec.keys]
                where = f"; it belongs in {' or '.join(f'[{o}]' for o in owners)}" if owners else ""
                raise ConfigError(f"{section}: a key outside any [section]{where}")
            raise ConfigError(
                f"[{section}]: unknown section{_did_you_mean(section, schema)}"
                f" (known: {', '.join(schema)})"
            )
        if not isinstance(body, dict):
            raise ConfigError(f"{section}: expected a [{section}] table")
        keys = schema[section].keys
        for key, value in body.items():
            name = f"{section}.{key}"
            spec = keys.get(key)
            if spec is None:
                raise ConfigError(
                    f"{name}: unknown key{_did_you_mean(key, keys)}"
                    f" (known in [{section}]: {', '.join(keys)})"
                )
            if base is not None and spec.file:
                value = _beside(base, value)
            values.setdefault(section, {})[key] = spec.check(name, value)
    checking = Checking(base, schema, values)
    for sec in schema.values():
        if isinstance(sec, DeclaredElsewhere) and not sec.imported and sec.name not in raw:
            continue  # its check passes on its defaults: not imported for that
        if sec.check is not None:
            sec.check({**sec.defaults(), **values.get(sec.name, {})}, checking)
    return values
