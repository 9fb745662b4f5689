"""Build outgoing stanzas as ordinary :mod:`xml.etree.ElementTree` elements.

>>> from stanzalink.xml.builder import E
>>> msg = E("{jabber:client}message", {"to": "a@example.net", "type": "chat"},
...         E("{jabber:client}body", text="hello"))
>>> from stanzalink.xml import tostring
>>> tostring(msg, default_ns="jabber:client")
b'<message to="a@example.net" type="chat"><body>hello</body></message>'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

# ElementTree is imported by the first call, not with this module: a
# client that only logs in and idles never builds an element (what the
# session writes itself, it writes as bytes) and never loads it.


def E(
    tag: str,
    attrib: dict[str, str] | None = None,
    *children: ET.Element,
    text: str | None = None,
) -> ET.Element:
    """An element with attributes (None values dropped), children and text."""
    import xml.etree.ElementTree as ET

    el = ET.Element(tag, {k: v for k, v in (attrib or {}).items() if v is not None})
    if text is not None:
        el.text = text
    el.extend(children)
    return el


def sub(
    parent: ET.Element, tag: str, attrib: dict[str, str] | None = None, text: str | None = None
) -> ET.Element:
    """Append a child to ``parent`` and return it."""
    import xml.etree.ElementTree as ET

    el = ET.SubElement(parent, tag, {k: v for k, v in (attrib or {}).items() if v is not None})
    if text is not None:
        el.text = text
    return el
