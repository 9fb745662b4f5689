"""TOML read the way the agent reads it: :func:`toml_loads`, which loads
``tomllib`` for the call only (the config is read at start and for ``config
set``), and ``datetime`` only for a date or time in the text."""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

__all__ = ["toml_loads"]

# the names tomllib binds from datetime
_DATETIME_NAMES = ("date", "datetime", "time", "timedelta", "timezone", "tzinfo")


class _Later:
    """One of ``datetime``'s names as tomllib holds it when imported by
    :func:`toml_loads`: the real class, looked up in the real module when
    tomllib first uses it (a date or time in the text, rare in a config)."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def _real(self) -> Any:
        import datetime  # the stand-in is out of sys.modules by then

        return getattr(datetime, self._name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._real()(*args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._real(), attr)


def toml_loads(text: str) -> dict[str, Any]:
    """``tomllib.loads(text)``, without keeping tomllib (every TOML read of
    stanzalink comes here).  Raises ``tomllib.TOMLDecodeError``, a
    :class:`ValueError`.

    The agent reads TOML at start and for ``config set``, and holds nothing
    of the parser between.  So when nothing else has imported tomllib and
    no other thread runs (``sys.modules`` is every thread's), tomllib is
    imported for the call and taken out of ``sys.modules`` afterwards (and
    its compiled patterns out of re's cache), its memory free for what the
    agent loads next; while it is imported, a stand-in module answers its
    ``from datetime import ...`` with names that load the real ``datetime``
    only when a date or time is read
    (CPython's datetime.py and its C module are a third of a MiB).  Its
    values, types and errors are those of a plain ``import tomllib``
    (tests/test_config_toml.py).  Otherwise, or if tomllib wants more of
    ``datetime`` than those names, it is imported plainly and stays.

    tomllib reads nested arrays and tables by recursion: a text nested
    deeper than Python's recursion limit (a broken or hostile file, a value
    given to ``config set``) raises a ValueError too, not RecursionError.
    """
    try:
        return _loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _loads(text: str) -> dict[str, Any]:
    import threading

    module = None
    if "tomllib" not in sys.modules and threading.active_count() == 1:
        module = _import_tomllib_lean()
    if module is None:
        import tomllib

        return tomllib.loads(text)
    try:
        return module.loads(text)  # type: ignore[no-any-return]
    finally:
        del module
        for name in [n for n in sys.modules if n == "tomllib" or n.startswith("tomllib.")]:
            # its functions and their globals refer to each other: emptied,
            # they go now rather than at the next full garbage collection
            sys.modules.pop(name).__dict__.clear()
        # and the patterns tomllib compiled, which re's cache still holds (a
        # pattern another module compiled stays with that module; one only
        # looked up by its text is compiled again when next used)
        import re

        re.purge()


def _import_tomllib_lean() -> ModuleType | None:
    """tomllib imported with the stand-in for ``datetime`` (when nothing has
    imported ``datetime`` yet), which leaves ``sys.modules`` as it found it;
    None when tomllib wants more of ``datetime`` than the names it stands in
    for."""
    stand_in = None
    if "datetime" not in sys.modules:
        stand_in = ModuleType("datetime", "stand-in while tomllib is imported")
        for name in _DATETIME_NAMES:
            setattr(stand_in, name, _Later(name))
        sys.modules["datetime"] = stand_in
    try:
        return __import__("tomllib")
    except ImportError:
        return None
    finally:
        if stand_in is not None and sys.modules.get("datetime") is stand_in:
            del sys.modules["datetime"]
