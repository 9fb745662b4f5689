"""An answer of the console: the message that carries rendered blocks back
to where a command line came from (same type and ``<thread>``), with an id
of its own and the id of the line it answers (XEP-0461)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stanzalink.console.render import message
from stanzalink.xep.xhtml_im import Block
from stanzalink.xml.builder import E, sub

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

REPLY = "urn:xmpp:reply:0"  # XEP-0461: an answer names the message it answers


@dataclass
class Reply:
    """Where answers to one message go."""

    to: str
    type: str | None
    thread: str | None = None
    parent: str | None = None
    ref: str | None = None  # the id of the message answered (XEP-0461 <reply/>)


def answer(reply: Reply, blocks: list[Block]) -> ET.Element:
    """The message carrying ``blocks`` (plain body and XHTML-IM) to ``reply``."""
    rendered = message(blocks)
    # an id of its own, and the id of the command line it answers
    attrs: dict[str, str] = {"to": reply.to, "id": "c" + os.urandom(8).hex()}
    if reply.type:
        attrs["type"] = reply.type
    msg = E("{jabber:client}message", attrs)
    for el in rendered.payload():
        msg.append(el)
    if reply.thread:
        parent = {"parent": reply.parent} if reply.parent else None
        sub(msg, "{jabber:client}thread", parent, text=reply.thread)
    if reply.ref:
        sub(msg, f"{{{REPLY}}}reply", {"to": reply.to, "id": reply.ref})
    return msg
