"""Serialize elements (received views or ElementTree elements) to bytes.

Elements are written with default-namespace declarations only where the
namespace changes, so a stanza written into a ``jabber:client`` stream
carries no namespace noise, and the same stanza written stand-alone
(``default_ns=""``) declares every namespace it uses.  Namespaced
attributes get generated prefixes (``ns0``...) declared where first needed;
``xml:`` needs no declaration.  Escaping is :mod:`stanzalink.xml.escape`'s.
Loaded by the first element serialized: a session that logs in writes its
own bytes (:mod:`stanzalink.session.wire`) and never needs it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from stanzalink.xml.escape import _check, escape_attr, escape_text
from stanzalink.xml.events import XML_NS

__all__ = ["SerializableElement", "escape_attr", "escape_text", "tostring"]


class SerializableElement(Protocol):
    """What the serializer needs: the ElementTree reading interface."""

    @property
    def tag(self) -> str: ...
    @property
    def text(self) -> str | None: ...
    @property
    def tail(self) -> str | None: ...
    @property
    def attrib(self) -> dict[str, str]: ...
    def __iter__(self) -> Iterator[SerializableElement]: ...


def _split(tag: str) -> tuple[str, str]:
    if tag[:1] == "{":
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


_NAMES: dict[str, tuple[str, str]] = {}  # tag -> (namespace, checked local name)
_MAX_NAMES = 512


def _element_name(tag: str) -> tuple[str, str]:
    """The tag split, its local name checked; remembered, as a stream uses
    few tags (bounded: forgotten all at once when full)."""
    name = _NAMES.get(tag)
    if name is None:
        name = _split(tag)
        _check(name[1])
        if len(_NAMES) >= _MAX_NAMES:
            _NAMES.clear()
        _NAMES[tag] = name
    return name


def tostring(elem: SerializableElement, *, default_ns: str = "", oneline: bool = False) -> bytes:
    """The element (and its subtree, not its tail) as UTF-8 bytes.

    ``default_ns`` is the default namespace in scope where the bytes will
    go (``"jabber:client"`` inside a client stream; ``""`` stand-alone).
    With ``oneline`` every line break in text is written as a character
    reference, so the result is a single line (attribute values always
    escape them).
    """
    return "".join(_serialize(elem, default_ns, oneline)).encode()


def _serialize(root: SerializableElement, default_ns: str, oneline: bool) -> Iterable[str]:
    out: list[str] = []
    counter = [0]
    # stack items: (element, children iterator, default ns, prefix scope, local name)
    stack: list[tuple[SerializableElement, Iterator[SerializableElement], str, dict[str, str], str]]
    stack = []
    scope: dict[str, str] = {}
    elem = root
    while True:
        # open `elem`
        ns, local = _element_name(elem.tag)
        out.append("<" + local)
        child_default = default_ns
        if ns != default_ns:
            out.append(f' xmlns="{escape_attr(ns)}"')
            child_default = ns
        attrs = elem.attrib
        if attrs:
            pieces = []
            for key, value in attrs.items():
                ans, alocal = _split(key)
                if not ans:
                    name = alocal
                elif ans == XML_NS:
                    name = "xml:" + alocal
                else:
                    prefix = scope.get(ans)
                    if prefix is None:
                        prefix = f"ns{counter[0]}"
                        counter[0] += 1
                        scope = {**scope, ans: prefix}
                        out.append(f' xmlns:{prefix}="{escape_attr(ans)}"')
                    name = prefix + ":" + alocal
                pieces.append(f' {name}="{escape_attr(value)}"')
            out.extend(pieces)
        children = iter(elem)
        first = next(children, None)
        text = elem.text
        if first is None and not text:
            out.append("/>")
        else:
            out.append(">")
            if text:
                out.append(escape_text(text, oneline))
            if first is not None:
                stack.append((elem, children, default_ns, scope, local))
                default_ns = child_default
                elem = first
                continue
            out.append(f"</{local}>")
        # `elem` is closed: write its tail, then go to its next sibling or close parents
        while True:
            if not stack:
                return out
            tail = elem.tail
            if tail:
                out.append(escape_text(tail, oneline))
            parent, siblings, parent_default, parent_scope, parent_local = stack[-1]
            nxt = next(siblings, None)
            if nxt is not None:
                elem = nxt
                default_ns = _child_default(parent, parent_default)
                break
            stack.pop()
            out.append(f"</{parent_local}>")
            elem = parent
            default_ns = parent_default
            scope = parent_scope
        # loop opens `elem` (the next sibling) with the parent's scope
        scope = stack[-1][3] if stack else scope


def _child_default(parent: SerializableElement, parent_default: str) -> str:
    ns, _ = _split(parent.tag)
    return ns
