"""What the console keeps per controller (one full JID): its role, the
pages of a long answer still to show (``more``), a question waiting for
``yes`` or ``no``, and the commands it is running."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from stanzalink.access import Role
from stanzalink.commands.model import Command, Invocation
from stanzalink.console.render import paginate
from stanzalink.console.reply import Reply
from stanzalink.jid import JID
from stanzalink.xep.xhtml_im import Block, Code, Para

MAX_PAGES = 32


@dataclass
class Job:
    id: int
    name: str
    inv: Invocation
    reply: Reply
    task: asyncio.Task[Any] | None = None
    by_user: bool = False
    started: bool = False
    note: str = ""  # shown above the result (a late read: when it was sent)


@dataclass
class Pending:
    command: Command
    args: dict[str, Any]
    line: str
    expires: float


@dataclass
class ChatSession:
    jid: JID
    role: Role
    last: float
    pages: list[list[Block]] = field(default_factory=list)
    page: int = 0
    pending: Pending | None = None
    last_command: str = ""
    jobs: dict[int, Job] = field(default_factory=dict)

    def load(self, blocks: list[Block], page_size: int) -> None:
        """A new answer to show, in pages of at most ``page_size`` bytes
        (at most :data:`MAX_PAGES` of them)."""
        pages = paginate(blocks, page_size)
        if len(pages) > MAX_PAGES:
            pages = pages[:MAX_PAGES]
            pages[-1] = [*pages[-1], Para(f"(output cut after {MAX_PAGES} pages)")]
        self.pages, self.page = pages, 0

    def next_page(self) -> list[Block]:
        """The next page, with a footer when there are several."""
        page = self.pages[self.page]
        total = len(self.pages)
        self.page += 1
        if total > 1:
            if self.page < total:
                page = [
                    *page,
                    Para(f"(page {self.page} of {total}: send ", Code("more"), " for the next)"),
                ]
            else:
                page = [*page, Para(f"(page {total} of {total}, the end)")]
        if self.page >= total:
            self.pages, self.page = [], 0
        return page
