"""The in-band password change (XEP-0077 §3.3) as the client awaits it:
:meth:`Client.change_password <stanzalink.aio.client.Client.change_password>`
starts it here, and the session's answer (:class:`PasswordChanged` or
:class:`PasswordChangeFailed`) ends the wait here.  A rare operation: this
module loads only when a change begins or its answer comes, so an idle
client never holds it.  The session's side is :mod:`stanzalink.session.password`."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from stanzalink.errors import LocalProtocolError
from stanzalink.session.events import PasswordChanged, PasswordChangeFailed

if TYPE_CHECKING:
    from stanzalink.aio.client import Client

log = logging.getLogger("stanzalink.aio.client")  # the client's log lines keep one name


async def change(client: Client, new: str, timeout: float | None) -> None:
    """:meth:`Client.change_password`: the request, then the wait for its answer."""
    if client._pw_waiter is not None:
        raise LocalProtocolError("a password change is already under way")
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    client.session.change_password(new, client._now())
    client._pw_waiter = fut
    client._flush()
    try:
        await asyncio.wait_for(fut, timeout or client.config.iq_timeout)
    except TimeoutError:
        client.session.cancel_password_change()
        raise TimeoutError("the server did not answer the password change") from None
    finally:
        client._pw_waiter = None


def answered(
    waiter: asyncio.Future[None] | None,
    ev: PasswordChanged | PasswordChangeFailed,
    lost: type[Exception],
) -> None:
    """The session's answer: the waiting :func:`change` returns, or raises
    :class:`PasswordChangeRefused` or, when the connection was lost before
    the answer, ``lost`` (the client's ``ConnectionFailed``)."""
    if isinstance(ev, PasswordChanged):
        log.info("password changed in-band")
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
    elif waiter is not None and not waiter.done():
        from stanzalink.aio.iq import PasswordChangeRefused

        waiter.set_exception(
            lost(ev.text)
            if ev.condition == "connection-lost"
            else PasswordChangeRefused(ev.condition, ev.text)
        )
