"""Read-only stanza elements, built lazily from a parser's node table.

Both parser backends describe a stanza as a flat node table (see
``native/include/stanzalink/tokenizer.h``): eight integers per node, in
document order.  :class:`Element` is a view of one element node; nothing is
decoded until it is read, and what is read once is kept.  The interface is
that of :class:`xml.etree.ElementTree.Element` for reading: ``tag`` in
``{namespace}local`` form, ``attrib``, ``get``, ``text``, ``tail``, iteration,
``find``/``findall``/``findtext``/``iterfind``, ``iter``, ``itertext``.

A stanza of the native backend is first a :class:`LazyElement`; reading its
attributes decodes its element alone, reading every element
(:meth:`Element.iter`, ``itertext``, ``to_etree``) decodes it whole in one C
call into :class:`DecodedElement` objects, and anything else reads its node
table as it goes.  The decoded form and the code that builds it are in
:mod:`stanzalink.xml.decoded`, loaded by the first full read.  The module is
over 500 lines because these forms share one slot layout and change class
in place: they belong together.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Iterator, Sequence
from itertools import chain as _chain
from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:
    from stanzalink.xml._native import Rendered

# node kinds and word offsets (tokenizer.h)
ELEM = 1
ATTR = 2
TEXT = 3
NSDECL = 4
WORDS = 8
_KIND, _NEXT, _NS_OFF, _NS_LEN, _NAME_OFF, _NAME_LEN, _VAL_OFF, _VAL_LEN = range(8)

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET


def _element_path() -> Any:
    """ElementPath, for the paths that name more than one child tag.  It is
    typed for ElementTree elements; it only needs the reading interface.
    Imported when first needed: what the session reads itself are simple
    paths, so an idle client loads neither it nor ElementTree."""
    import xml.etree.ElementPath as element_path

    return element_path


_SIMPLE_PATH_CHARS = frozenset("/*[].@=()'\"")
_SIMPLE: dict[str, bool] = {}  # path -> names one child tag (no ElementPath needed)
_MAX_SIMPLE = 256


def _simple(path: str) -> bool:
    """Whether ``path`` names one child tag (``{ns}local`` or ``local``);
    ``{*}local`` (any namespace) and ``{}local`` (none) are ElementPath's."""
    simple = _SIMPLE.get(path)
    if simple is None:
        simple = not path.startswith(("{*}", "{}")) and not _SIMPLE_PATH_CHARS.intersection(
            _strip_ns(path)
        )
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

    # (one layout for every kind of element, so that a view can change its
    # class in place: _d, _i, _e for a view of a node table; _c, _k for a
    # stanza not read yet; _text, _tail, _kids, _all for a decoded element)
    __slots__ = ("_all", "_attrib", "_c", "_d", "_e", "_i", "_k", "_kids", "_tag", "_tail", "_text")

    # Set only on a LazyElement (see there).
    _c: Any
    _k: int
    _text: str | None
    _tail: str | None
    _kids: list[Element] | tuple[()]
    _all: list[Element]

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
        if self._i == 0 and type(self._d) is PoolDoc and _decode_stanza(self):
            return self.iter(tag)  # (a DecodedElement now)
        return self._iter_nodes(tag)

    def _iter_nodes(self, tag: str | None) -> Iterator[Element]:
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
        if self._i == 0 and type(self._d) is PoolDoc and _decode_stanza(self):
            return self.itertext()  # (a DecodedElement now)
        return self._itertext_nodes()

    def _itertext_nodes(self) -> Iterator[str]:
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
        found: Element | None = _element_path().find(self, path, namespaces)
        return found

    def findall(self, path: str, namespaces: dict[str, str] | None = None) -> list[Element]:
        if namespaces is None and _simple(path):
            return [child for child in self if child.tag == path]
        found: list[Element] = _element_path().findall(self, path, namespaces)
        return found

    def iterfind(self, path: str, namespaces: dict[str, str] | None = None) -> Iterator[Element]:
        it: Iterator[Element] = _element_path().iterfind(self, path, namespaces)
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
        import xml.etree.ElementTree as ET

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


def _decode_stanza(el: Element) -> bool:
    """Decode a stanza element read so far through a view of its node table
    (a stanza of the native backend), if it can be rendered: True when it
    is a :class:`DecodedElement` now."""
    c = getattr(el, "_c", None)
    if c is None:
        return False
    res = c[4].render(c, el._k, 0)  # (the chunk's tokenizer)
    if res is None:
        el._c = None  # (read node by node from now on)
        return False
    _build(el, res)
    return True


def _no_build(root: Element, rendered: Rendered) -> None:  # pragma: no cover - replaced
    raise RuntimeError("stanzalink.xml.stream sets how a stanza is decoded whole")


# How a stanza of the native backend is decoded whole: set by
# :mod:`stanzalink.xml.stream`, which makes those stanzas, to a function that
# loads :mod:`stanzalink.xml.decoded` with the first full read and from then
# on is :func:`stanzalink.xml.decoded.build` itself.  (This module does not
# import that one: it is built on this one.)
_build: Callable[[Element, Rendered], None] = _no_build


# reading a plain attribute dict (a decoded element's, a read head's)
def _plain_get(self: Element, key: str, default: Any = None) -> Any:
    return self._attrib.get(key, default)  # type: ignore[union-attr]


def _plain_keys(self: Element) -> list[str]:
    return list(self._attrib)  # type: ignore[arg-type]


def _plain_items(self: Element) -> list[tuple[str, str]]:
    return list(self._attrib.items())  # type: ignore[union-attr]


class LazyElement(Element):
    """A stanza element as the native backend first hands it out: only
    ``_c`` (its feed's chunk, which can render it), ``_k`` (its event
    number in the chunk) and ``_tag`` are set.  Reading the tag reads the
    slot.  Reading its attributes or text renders the stanza element alone
    (:class:`_HeadRead`); anything that walks its children renders the whole
    stanza in one C call and builds every element at once
    (:class:`DecodedElement`).  Every other property and method of
    :class:`Element` is wrapped here so that it first does that and then
    reads the element as its new class does.  A stanza that would render
    past the bound falls back to a view of its node table (a plain
    :class:`Element`, decoding what is read).  There is no ``__getattr__``:
    a class with one loses CPython's specialised attribute access, the tag
    read included."""

    __slots__ = ()

    if not TYPE_CHECKING:  # keeps attribute typos visible to mypy
        tag = Element._tag
        # made with no arguments and its slots set after: object's own
        # __init__ keeps that call in C (a third cheaper than object.__new__)
        __init__ = object.__init__

        def _fill(self):
            """Fall back to a view of the node table."""
            doc, count = self._c(self._k)
            if type(self) is LazyElement:
                self._attrib = None
            self._d = doc
            self._i = 0
            self._e = count
            self.__class__ = Element

        def _fill_head(self):
            c = self._c
            res = c[4].render(c, self._k, 1)  # (the chunk's tokenizer; TREE_ROOT)
            if res is None:
                self._fill()
                return
            strings, recs, names, nattrs = res
            # (zip without strict: its keyword costs about as much as the
            # rest; the keys and the values are nattrs each, tree.h)
            keys = map(names.__getitem__, recs[:nattrs])
            self._attrib = dict(zip(keys, strings[1 : 1 + nattrs]))  # noqa: B905
            self._text = strings[recs[-3]]
            self.__class__ = _HeadRead

        def iter(self, tag=None):
            # (the full read's first call: not through the generic wrapper,
            # and _fill_tree inline, two frames fewer)
            if type(self) is LazyElement:
                self._attrib = None
            c = self._c
            res = c[4].render(c, self._k, 0)  # (the chunk's tokenizer)
            if res is None:
                self._fill()
            else:
                _build(self, res)
                if tag is None:
                    return _chain((self,), self._all)
            return self.iter(tag)

        def _fill_tree(self):
            if type(self) is LazyElement:
                self._attrib = None
            c = self._c
            res = c[4].render(c, self._k, 0)  # (the chunk's tokenizer)
            if res is None:
                self._fill()
            else:
                _build(self, res)


class _HeadRead(LazyElement):
    """A :class:`LazyElement` whose attributes and text have been read:
    they are plain slots now; its children are still to be decoded."""

    __slots__ = ()

    if not TYPE_CHECKING:
        attrib = Element._attrib
        text = Element._text
        # its attributes are a plain dict now, read as a decoded element's
        get = _plain_get
        keys = _plain_keys
        items = _plain_items


# what reading the stanza element alone gives
_HEAD = frozenset({"attrib", "text", "get", "keys", "items"})
# what reads every element: the stanza decoded whole; anything else (find,
# the children) reads little and reads the node table as it goes
_WHOLE = frozenset({"iter", "itertext", "to_etree"})
# not wrapped: the tag slot, and what every class has as it is
_UNWRAPPED = frozenset(
    {
        "tag",
        "__init__",
        "__slots__",
        "__module__",
        "__doc__",
        "__qualname__",
        "__bool__",
        "__repr__",
    }
)


def _filling_property(name: str, fill: str) -> property:
    def fill_then_get(self: LazyElement) -> Any:
        getattr(self, fill)()
        return getattr(self, name)

    return property(fill_then_get)


def _filling_method(name: str, fill: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def fill_then_call(self: LazyElement, *args: Any, **kwargs: Any) -> Any:
        getattr(self, fill)()
        if kwargs:
            return getattr(self, name)(*args, **kwargs)
        return getattr(self, name)(*args)

    return fill_then_call


def _wrap_lazy() -> None:
    for name, value in list(vars(Element).items()):
        if name in _UNWRAPPED or (name.startswith("_") and not name.startswith("__")):
            continue
        if name in vars(LazyElement):  # (a wrapper of its own)
            continue
        # (_HeadRead inherits these, and reads _HEAD from its slots)
        fill = "_fill_head" if name in _HEAD else "_fill_tree" if name in _WHOLE else "_fill"
        if isinstance(value, property):
            setattr(LazyElement, name, _filling_property(name, fill))
        elif isinstance(value, types.FunctionType):
            setattr(LazyElement, name, _filling_method(name, fill, value))


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
