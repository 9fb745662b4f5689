"""XEP-0077's two rare account operations as the client sees them: the
in-band password change (§3.3), which
:meth:`Client.change_password <stanzalink.aio.client.Client.change_password>`
starts here and whose answer (:class:`PasswordChanged` or
:class:`PasswordChangeFailed`) ends the wait here, and in-band
registration, whose :class:`Registered` is logged here.  This module loads
only with one of them (their events come from
:mod:`stanzalink.session.account_events`), so an idle client never holds
it.  The session's side is :mod:`stanzalink.session.password` and
:mod:`stanzalink.session.register`."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from stanzalink.errors import LocalProtocolError
from stanzalink.session.account_events import PasswordChanged, PasswordChangeFailed, Registered

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


def on_event(
    waiter: asyncio.Future[None] | None,
    ev: object,
    lost: type[Exception],
) -> None:
    """An account operation's event.  To a password change: the waiting
    :func:`change` returns, or raises :class:`PasswordChangeRefused` or,
    when the connection was lost before the answer, ``lost`` (the client's
    ``ConnectionFailed``)."""
    if isinstance(ev, Registered):
        log.info("registered account %s in-band", ev.username)
    elif isinstance(ev, PasswordChanged):
        log.info("password changed in-band")
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
    elif isinstance(ev, PasswordChangeFailed) and waiter is not None and not waiter.done():
        from stanzalink.aio.iq import PasswordChangeRefused

        waiter.set_exception(
            lost(ev.text)
            if ev.condition == "connection-lost"
            else PasswordChangeRefused(ev.condition, ev.text)
        )
