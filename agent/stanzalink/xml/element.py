"""Read-only stanza elements, built lazily from a parser's node table.

Both parser backends describe a stanza as a flat node table (see
``native/include/stanzalink/tokenizer.h``): eight integers per node, in
document order.  :class:`Element` is a view of one element node; nothing is
decoded until it is read, and what is read once is kept.  The interface is
that of :class:`xml.etree.ElementTree.Element` for reading: ``tag`` in
``{namespace}local`` form, ``attrib``, ``get``, ``text``, ``tail``, iteration,
``find``/``findall``/``findtext``/``iterfind``, ``iter``, ``itertext``.
"""

from __future__ import annotations

import functools
import types
import xml.etree.ElementPath as _element_path
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, overload

# node kinds and word offsets (tokenizer.h)
ELEM = 1
ATTR = 2
TEXT = 3
NSDECL = 4
WORDS = 8
_KIND, _NEXT, _NS_OFF, _NS_LEN, _NAME_OFF, _NAME_LEN, _VAL_OFF, _VAL_LEN = range(8)

# ElementPath is typed for ElementTree elements; it only needs the reading interface
_ElementPath: Any = _element_path

_SIMPLE_PATH_CHARS = frozenset("/*[].@=()'\"")
_SIMPLE: dict[str, bool] = {}  # path -> names one child tag (no ElementPath needed)
_MAX_SIMPLE = 256


def _simple(path: str) -> bool:
    simple = _SIMPLE.get(path)
    if simple is None:
        simple = not _SIMPLE_PATH_CHARS.intersection(_strip_ns(path))
        if len(_SIMPLE) >= _MAX_SIMPLE:
            _SIMPLE.clear()
        _SIMPLE[path] = simple
    return simple


class Doc:
    """The node table and strings of one stanza (or stream header)."""

    __slots__ = ("n",)

    n: Sequence[int]

    def s(self, off: int, length: int) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


class PoolDoc(Doc):
    """Strings live in a UTF-8 byte pool (the native backend)."""

    __slots__ = ("p", "pool")

    def __init__(self, nodes: Sequence[int], pool: bytes, pool_base: int) -> None:
        self.n = nodes
        self.pool = pool
        self.p = pool_base

    def s(self, off: int, length: int) -> str:
        start = self.p + off
        return self.pool[start : start + length].decode()


class ListDoc(Doc):
    """Strings live in a list; a string's offset is its index (the expat backend)."""

    __slots__ = ("strings",)

    def __init__(self, nodes: Sequence[int], strings: list[str]) -> None:
        self.n = nodes
        self.strings = strings

    def s(self, off: int, length: int) -> str:
        return self.strings[off] if length else ""


class Element:
    """One element of a received stanza, read like an ElementTree element.

    Views are immutable: to change a received stanza, call :meth:`to_etree`
    and edit the copy.
    """

    __slots__ = ("_attrib", "_c", "_d", "_e", "_i", "_k", "_tag")

    # Set only on a LazyElement (see there).
    _c: Callable[[int], tuple[Doc, int]]
    _k: int

    def __init__(self, doc: Doc, index: int, end: int) -> None:
        self._d = doc
        self._i = index  # this element's node
        self._e = end  # one past the parent's subtree: bounds the tail
        self._tag: str | None = None
        self._attrib: dict[str, str] | None = None

    # -- names and attributes ---------------------------------------------
    @property
    def tag(self) -> str:
        tag = self._tag
        if tag is None:
            n = self._d.n
            b = self._i * WORDS
            local = self._d.s(n[b + _NAME_OFF], n[b + _NAME_LEN])
            ns_len = n[b + _NS_LEN]
            tag = f"{{{self._d.s(n[b + _NS_OFF], ns_len)}}}{local}" if ns_len else local
            self._tag = tag
        return tag

    @property
    def namespace(self) -> str:
        """The namespace name alone ('' when the element has none)."""
        n = self._d.n
        b = self._i * WORDS
        return self._d.s(n[b + _NS_OFF], n[b + _NS_LEN])

    @property
    def localname(self) -> str:
        n = self._d.n
        b = self._i * WORDS
        return self._d.s(n[b + _NAME_OFF], n[b + _NAME_LEN])

    @property
    def attrib(self) -> dict[str, str]:
        attrib = self._attrib
        if attrib is None:
            attrib = {}
            d = self._d
            n = d.n
            b = self._i * WORDS
            for k in range(self._i + 1, self._i + 1 + n[b + _VAL_OFF]):
                a = k * WORDS
                if n[a + _KIND] != ATTR:
                    continue
                local = d.s(n[a + _NAME_OFF], n[a + _NAME_LEN])
                ns_len = n[a + _NS_LEN]
                key = f"{{{d.s(n[a + _NS_OFF], ns_len)}}}{local}" if ns_len else local
                attrib[key] = d.s(n[a + _VAL_OFF], n[a + _VAL_LEN])
            self._attrib = attrib
        return attrib

    def get(self, key: str, default: Any = None) -> Any:
        return self.attrib.get(key, default)

    def keys(self) -> list[str]:
        return list(self.attrib)

    def items(self) -> list[tuple[str, str]]:
        return list(self.attrib.items())

    # -- text -----------------------------------------------------------------
    def _first_child_node(self) -> int:
        n = self._d.n
        return self._i + 1 + n[self._i * WORDS + _VAL_OFF]

    @property
    def text(self) -> str | None:
        n = self._d.n
        k = self._first_child_node()
        if k < n[self._i * WORDS + _NEXT] and n[k * WORDS + _KIND] == TEXT:
            return self._d.s(n[k * WORDS + _VAL_OFF], n[k * WORDS + _VAL_LEN])
        return None

    @property
    def tail(self) -> str | None:
        n = self._d.n
        k = n[self._i * WORDS + _NEXT]
        if k < self._e and n[k * WORDS + _KIND] == TEXT:
            return self._d.s(n[k * WORDS + _VAL_OFF], n[k * WORDS + _VAL_LEN])
        return None

    # -- children ---------------------------------------------------------------
    def __iter__(self) -> Iterator[Element]:
        d = self._d
        n = d.n
        end = n[self._i * WORDS + _NEXT]
        k = self._first_child_node()
        while k < end:
            b = k * WORDS
            if n[b + _KIND] == ELEM:
                yield Element(d, k, end)
                k = n[b + _NEXT]
            else:
                k += 1

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __bool__(self) -> bool:
        # An element is always "something", even without children: this
        # avoids the ElementTree pitfall of `if stanza.find(...)` being False
        # for a found but empty element.
        return True

    @overload
    def __getitem__(self, index: int) -> Element: ...
    @overload
    def __getitem__(self, index: slice) -> list[Element]: ...
    def __getitem__(self, index: int | slice) -> Element | list[Element]:
        return list(self)[index]

    def iter(self, tag: str | None = None) -> Iterator[Element]:
        """This element and all its descendants in document order."""
        if tag == "*":
            tag = None
        d = self._d
        n = d.n
        # ends[-1] is the end of the innermost open subtree: the bound for tails
        stack = [self._e]
        end_here = n[self._i * WORDS + _NEXT]
        k = self._i
        while k < end_here:
            b = k * WORDS
            while k >= stack[-1]:
                stack.pop()
            if n[b + _KIND] == ELEM:
                el = Element(d, k, stack[-1])
                if tag is None or el.tag == tag:
                    yield el
                stack.append(n[b + _NEXT])
                k += 1 + n[b + _VAL_OFF]
            else:
                k += 1

    def itertext(self) -> Iterator[str]:
        d = self._d
        n = d.n
        end = n[self._i * WORDS + _NEXT]
        for k in range(self._i, end):
            b = k * WORDS
            if n[b + _KIND] == TEXT:
                yield d.s(n[b + _VAL_OFF], n[b + _VAL_LEN])

    # -- ElementPath --------------------------------------------------------------
    def find(self, path: str, namespaces: dict[str, str] | None = None) -> Element | None:
        if namespaces is None and _simple(path):
            for child in self:
                if child.tag == path:
                    return child
            return None
        found: Element | None = _ElementPath.find(self, path, namespaces)
        return found

    def findall(self, path: str, namespaces: dict[str, str] | None = None) -> list[Element]:
        if namespaces is None and _simple(path):
            return [child for child in self if child.tag == path]
        found: list[Element] = _ElementPath.findall(self, path, namespaces)
        return found

    def iterfind(self, path: str, namespaces: dict[str, str] | None = None) -> Iterator[Element]:
        it: Iterator[Element] = _ElementPath.iterfind(self, path, namespaces)
        return it

    @overload
    def findtext(self, path: str, default: None = None) -> str | None: ...
    @overload
    def findtext(self, path: str, default: str) -> str: ...
    def findtext(self, path: str, default: str | None = None) -> str | None:
        el = self.find(path)
        if el is None:
            return default
        return el.text or ""

    # -- conversions -----------------------------------------------------------------
    def to_etree(self) -> ET.Element:
        """A mutable :mod:`xml.etree.ElementTree` copy of this subtree."""
        root = ET.Element(self.tag, self.attrib)
        root.text = self.text
        stack: list[tuple[Element, ET.Element]] = [(self, root)]
        while stack:
            src, dst = stack.pop()
            for child in src:
                copy = ET.SubElement(dst, child.tag, child.attrib)
                copy.text = child.text
                copy.tail = child.tail
                stack.append((child, copy))
        return root

    def __repr__(self) -> str:
        return f"<Element {self.tag!r} at {id(self):#x}>"


class LazyElement(Element):
    """A stanza element as the native backend first hands it out: only
    ``_c`` (a callable giving the stanza's doc and node count), ``_k`` (its
    argument) and ``_tag`` are set.  Reading the tag reads the slot; every
    other property and method of :class:`Element` is wrapped here so that
    it first fills the remaining slots and turns the object into a plain
    :class:`Element` (the same layout), after which reads take the
    ordinary path.  There is no ``__getattr__``: a class with one loses
    CPython's specialised attribute access, the tag read included."""

    __slots__ = ()

    if not TYPE_CHECKING:  # keeps attribute typos visible to mypy
        tag = Element._tag
        # made with no arguments and its slots set after: object's own
        # __init__ keeps that call in C (a third cheaper than object.__new__)
        __init__ = object.__init__

        def _fill(self):
            doc, count = self._c(self._k)
            self._attrib = None
            self._d = doc
            self._i = 0
            self._e = count
            self.__class__ = Element


def _filling_property(prop: property) -> property:
    get = prop.fget
    assert get is not None

    def fill_then_get(self: LazyElement) -> Any:
        self._fill()  # type: ignore[attr-defined]
        return get(self)

    return property(fill_then_get, doc=prop.__doc__)


def _filling_method(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def fill_then_call(self: LazyElement, *args: Any, **kwargs: Any) -> Any:
        self._fill()  # type: ignore[attr-defined]
        return method(self, *args, **kwargs)

    return fill_then_call


def _wrap_lazy() -> None:
    for name, value in list(vars(Element).items()):
        if name in ("tag", "__init__", "__slots__", "__module__", "__doc__", "__qualname__"):
            continue
        if isinstance(value, property):
            setattr(LazyElement, name, _filling_property(value))
        elif isinstance(value, types.FunctionType):
            setattr(LazyElement, name, _filling_method(value))


_wrap_lazy()


def _strip_ns(path: str) -> str:
    """The path without its {namespace} parts (which may contain any char)."""
    if "{" not in path:
        return path
    out = []
    depth = 0
    for ch in path:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)
