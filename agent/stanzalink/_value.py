"""Small value classes without generated code.

``@dataclass`` writes and compiles ``__init__``, ``__repr__``, ``__eq__``
(and ``__setattr__`` for frozen ones) as source text each time a module
defining one is imported: about five ``exec`` calls a class, half of the
library's import time at start-up.  The classes on the path to a bound
session are written out instead (their methods are in the bytecode cache);
:class:`Value` gives them equality, hashing, ``repr`` and immutability from
their ``__slots__``, :class:`Record` ``repr`` and equality for mutable
ones.
"""

from __future__ import annotations

from typing import Any

_set = object.__setattr__


class Value:
    """Immutable: set the fields in ``__init__`` with ``_set(self, name, v)``."""

    __slots__: tuple[str, ...] = ()

    def _fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, n) for n in self.__slots__)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Value)
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        args = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__qualname__}({args})"

    # copy and pickle set the fields back without __setattr__
    def __getstate__(self) -> tuple[Any, ...]:
        return self._fields()

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for name, value in zip(self.__slots__, state, strict=True):
            _set(self, name, value)


class Record:
    """Mutable, with a ``__dict__``: ``repr`` and equality from its fields."""

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return vars(self) == vars(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__qualname__}({args})"
