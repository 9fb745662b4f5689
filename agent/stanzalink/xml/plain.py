"""Outgoing elements built without ElementTree.

:class:`PlainElement` has the part of :class:`xml.etree.ElementTree.Element`
that building and sending a stanza use (``tag``, ``attrib``, ``text``,
``tail``, children; ``get``/``set``, ``append``/``extend``, iteration,
``find``/``findall``/``findtext``/``iter``/``itertext``), and the
serializer writes it to the same bytes as the ElementTree element with the
same content.  The
agent builds what it sends while logging in and idle with it (its
presence, the roster requests, IQ results, its disco#info), so an idle
agent never loads ElementTree with ``_elementtree`` and ``pyexpat``.
:func:`E` and :func:`sub` are :mod:`stanzalink.xml.builder`'s, for plain
elements.

A plain element may hold ElementTree children (the serializer reads both);
an ElementTree element refuses plain children, so a stanza that other
code extends with ElementTree calls (a message, which gets its
XEP-0359 origin-id that way) is built with the builder's ``E``.

>>> from stanzalink.xml import tostring
>>> pres = E("{jabber:client}presence", {"to": "a@example.net", "type": None})
>>> sub(pres, "{jabber:client}status", text="ready") is not None
True
>>> tostring(pres, default_ns="jabber:client")
b'<presence to="a@example.net"><status>ready</status></presence>'
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias, TypeGuard

# whether a path names one child tag: the received elements' rule
from stanzalink.xml.element import _simple

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

# what may be a child of a plain element; and an element built to send
Child: TypeAlias = "PlainElement | ET.Element"
Built: TypeAlias = "PlainElement | ET.Element"


class PlainElement:
    """A mutable element: tag, attributes, text, tail and children."""

    __slots__ = ("_children", "attrib", "tag", "tail", "text")

    def __init__(self, tag: str, attrib: dict[str, str] | None = None) -> None:
        self.tag = tag
        self.attrib: dict[str, str] = dict(attrib) if attrib else {}
        self.text: str | None = None
        self.tail: str | None = None
        self._children: list[Child] = []

    # -- attributes
    def get(self, key: str, default: Any = None) -> Any:
        return self.attrib.get(key, default)

    def set(self, key: str, value: str) -> None:
        self.attrib[key] = value

    def keys(self) -> list[str]:
        return list(self.attrib)

    def items(self) -> list[tuple[str, str]]:
        return list(self.attrib.items())

    # -- children
    def append(self, child: Child) -> None:
        self._children.append(child)

    def extend(self, children: Iterable[Child]) -> None:
        self._children.extend(children)

    def insert(self, index: int, child: Child) -> None:
        self._children.insert(index, child)

    def remove(self, child: Child) -> None:
        self._children.remove(child)

    def __iter__(self) -> Iterator[Child]:
        return iter(self._children)

    def __len__(self) -> int:
        return len(self._children)

    def __bool__(self) -> bool:
        # an element is an element, children or not (ElementTree's
        # length-based truth is deprecated)
        return True

    def __getitem__(self, index: int) -> Child:
        return self._children[index]

    def iter(self, tag: str | None = None) -> Iterator[Any]:
        """This element and its descendants in document order (those whose
        tag is ``tag`` unless it is None or "*")."""
        if tag is None or tag == "*" or self.tag == tag:
            yield self
        for child in self._children:
            yield from child.iter(tag)

    def itertext(self) -> Iterator[str]:
        """The text of this element and its descendants, with their tails,
        in document order (what ElementPath's ``[.='text']`` and
        ``[tag='text']`` read)."""
        if self.text:
            yield self.text
        for child in self._children:
            yield from child.itertext()
            if child.tail:
                yield child.tail

    # -- paths (a child tag read here; any other path through ElementPath)
    def find(self, path: str, namespaces: dict[str, str] | None = None) -> Any:
        if namespaces is None and _simple(path):
            return next((c for c in self._children if c.tag == path), None)
        import xml.etree.ElementPath as element_path

        return element_path.find(self, path, namespaces)  # type: ignore[arg-type]

    def findall(self, path: str, namespaces: dict[str, str] | None = None) -> list[Any]:
        if namespaces is None and _simple(path):
            return [c for c in self._children if c.tag == path]
        import xml.etree.ElementPath as element_path

        return element_path.findall(self, path, namespaces)  # type: ignore[arg-type]

    def iterfind(self, path: str, namespaces: dict[str, str] | None = None) -> Iterator[Any]:
        return iter(self.findall(path, namespaces))

    def findtext(self, path: str, default: str | None = None) -> str | None:
        el = self.find(path)
        if el is None:
            return default
        return el.text or ""

    # -- conversion
    def to_etree(self) -> ET.Element:
        """An :mod:`xml.etree.ElementTree` copy of this subtree."""
        import xml.etree.ElementTree as ET

        def copy(src: Child) -> ET.Element:
            dst = ET.Element(src.tag, dict(src.attrib))
            dst.text, dst.tail = src.text, src.tail
            dst.extend(copy(c) for c in src)
            return dst

        return copy(self)

    def __repr__(self) -> str:
        return f"<PlainElement {self.tag!r} at {id(self):#x}>"


def E(
    tag: str,
    attrib: Mapping[str, str | None] | None = None,
    *children: Child,
    text: str | None = None,
) -> PlainElement:
    """A plain element with attributes (None values dropped), children and text."""
    el = PlainElement(tag, {k: v for k, v in (attrib or {}).items() if v is not None})
    if text is not None:
        el.text = text
    el._children.extend(children)
    return el


def sub(
    parent: PlainElement,
    tag: str,
    attrib: Mapping[str, str | None] | None = None,
    text: str | None = None,
) -> PlainElement:
    """Append a plain child to ``parent`` and return it."""
    el = E(tag, attrib, text=text)
    parent._children.append(el)
    return el


def is_built(value: object) -> TypeGuard[Built]:
    """Whether ``value`` is an element built to send: plain, or built with
    ElementTree, which is not loaded to say so (if nobody has loaded it,
    nothing was built with it; while another thread imports it, it has no
    ``Element`` yet, and nothing was built with that either)."""
    if isinstance(value, PlainElement):
        return True
    tree_element = getattr(sys.modules.get("xml.etree.ElementTree"), "Element", None)
    return tree_element is not None and isinstance(value, tree_element)
