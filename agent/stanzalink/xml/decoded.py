"""Stanzas decoded whole: :class:`DecodedElement`, and :func:`build`, which
makes a stanza element and its descendants of that class from what the
native tokenizer rendered (see :mod:`stanzalink.xml.element`).  Loaded by a
stanza's first full read (``iter``, ``itertext``, ``to_etree``): an idle
session reads only simple paths and attributes, and never loads it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import chain as _chain
from typing import TYPE_CHECKING, Any, overload

from stanzalink.xml.element import Element, _plain_get, _plain_items, _plain_keys

if TYPE_CHECKING:
    from stanzalink.xml._native import Rendered


class DecodedElement(Element):
    """An element of a stanza decoded whole (see :class:`LazyElement`):
    tag, attributes, text, tail and children are plain values, read
    without a call.  Made with no arguments; :func:`build` sets the
    slots.  The stanza element also keeps its descendants in document
    order (``_all``: the list holds no reference back to it, so there is
    no reference cycle); the stanza element and the others are of this
    one class, so that a loop reading both keeps CPython's specialised
    attribute access."""

    __slots__ = ()

    if not TYPE_CHECKING:
        tag = Element._tag
        attrib = Element._attrib
        text = Element._text
        tail = Element._tail
        __init__ = object.__init__

    @property
    def namespace(self) -> str:
        tag = self._tag
        assert tag is not None
        return tag[1:].rpartition("}")[0] if tag[0] == "{" else ""

    @property
    def localname(self) -> str:
        tag = self._tag
        assert tag is not None
        return tag.rpartition("}")[2] if tag[0] == "{" else tag

    if not TYPE_CHECKING:
        get = _plain_get
        keys = _plain_keys
        items = _plain_items

    def __iter__(self) -> Iterator[Element]:
        return iter(self._kids)

    def __len__(self) -> int:
        return len(self._kids)

    @overload
    def __getitem__(self, index: int) -> Element: ...
    @overload
    def __getitem__(self, index: slice) -> list[Element]: ...
    def __getitem__(self, index: int | slice) -> Element | list[Element]:
        return list(self._kids)[index]

    def _descendants(self) -> list[Element]:
        """This element's descendants in document order."""
        out: list[Element] = []
        stack: list[Iterator[Element]] = [iter(self._kids)]
        while stack:
            for child in stack[-1]:
                out.append(child)
                if child._kids:
                    stack.append(iter(child._kids))
                    break
            else:
                stack.pop()
        return out

    def iter(self, tag: str | None = None) -> Iterator[Element]:
        """This element and all its descendants in document order."""
        try:
            below = self._all  # (set on a stanza element only)
        except AttributeError:
            below = self._descendants()
        if tag is None or tag == "*":
            return _chain((self,), below)
        return (el for el in [self, *below] if el._tag == tag)

    def itertext(self) -> Iterator[str]:
        if self._text is not None:
            yield self._text
        # (children left to read, the tail to give after them)
        stack: list[tuple[Iterator[Element], str | None]] = [(iter(self._kids), None)]
        while stack:
            for child in stack[-1][0]:
                if child._text is not None:
                    yield child._text
                stack.append((iter(child._kids), child._tail))
                break
            else:
                tail = stack.pop()[1]
                if tail is not None:
                    yield tail


_new_decoded: Callable[[], Element] = DecodedElement  # type: ignore[assignment] # (no-argument __init__)


def build(root: Element, rendered: Rendered) -> None:
    """Make ``root`` (a stanza element whose tag is set, and whose
    attributes may be) and its descendants :class:`DecodedElement`
    objects, from what
    ``sl_tree_render`` made of it (tree.h): after the attributes' key ids,
    per element in reverse document order its tag's name id, its number of
    attributes, its first value's string index, its text's and its tail's
    string indices (index 0 is None), its number of children."""
    strings, recs, names, nattrs = rendered
    keys: list[Any] = [None]  # (indexed like the values, from 1)
    if nattrs:
        keys += map(names.__getitem__, recs[:nattrs])
    new = _new_decoded
    # (list methods called as methods: CPython specialises those calls)
    made: list[Element] = []  # every element but the root, in reverse order
    stack: list[Element] = []  # elements whose parent comes later
    it = iter(recs[nattrs:-6])  # (the root's record is the last)
    # (zip without strict: its keyword costs a third of an element's build;
    # the records come in whole sixes, tree.h)
    for tag, nattr, first, text, tail, nkids in zip(it, it, it, it, it, it):  # noqa: B905
        el = new()
        el._tag = names[tag]
        el._text = strings[text]
        el._tail = strings[tail]
        # (the common counts as displays: fewer calls than dict(zip()))
        if not nattr:
            el._attrib = {}
        elif nattr == 1:
            el._attrib = {keys[first]: strings[first]}
        elif nattr == 2:
            el._attrib = {keys[first]: strings[first], keys[first + 1]: strings[first + 1]}
        elif nattr == 3:
            el._attrib = {
                keys[first]: strings[first],
                keys[first + 1]: strings[first + 1],
                keys[first + 2]: strings[first + 2],
            }
        else:
            end = first + nattr
            el._attrib = dict(zip(keys[first:end], strings[first:end]))  # type: ignore[arg-type]  # noqa: B905
        if not nkids:
            el._kids = ()
        elif nkids == 1:
            el._kids = [stack.pop()]
        else:
            kids = stack[-nkids:]
            del stack[-nkids:]
            kids.reverse()
            el._kids = kids
        stack.append(el)
        made.append(el)
    if root._attrib is None:  # (not read yet)
        # (the root's attributes are the first: strings 1 to nattr; the
        # common counts as displays)
        nattr = recs[-5]
        v: list[Any] = strings  # (typed: index 0 alone is None)
        if nattr == 4:
            root._attrib = {
                keys[1]: v[1],
                keys[2]: v[2],
                keys[3]: v[3],
                keys[4]: v[4],
            }
        elif nattr == 3:
            root._attrib = {keys[1]: v[1], keys[2]: v[2], keys[3]: v[3]}
        elif nattr == 5:
            root._attrib = {
                keys[1]: v[1],
                keys[2]: v[2],
                keys[3]: v[3],
                keys[4]: v[4],
                keys[5]: v[5],
            }
        elif nattr == 2:
            root._attrib = {keys[1]: v[1], keys[2]: v[2]}
        else:
            end = 1 + nattr
            root._attrib = dict(zip(keys[1:end], v[1:end]))  # noqa: B905
    root._text = strings[recs[-3]]
    root._tail = None
    stack.reverse()
    root._kids = stack
    made.reverse()
    root._all = made
    root._c = None
    root.__class__ = DecodedElement
