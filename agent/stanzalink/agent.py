"""The device agent: one XMPP connection that stays up, with the device's
presence.  Features (roster automation and access control, console, ad-hoc
commands, HTTP and files over XMPP) plug in here as they land."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from stanzalink.aio.client import Client, ClientConfig
from stanzalink.config import DeviceConfig
from stanzalink.session.events import Online
from stanzalink.xml.builder import E, sub

log = logging.getLogger(__name__)


def client_config(cfg: DeviceConfig) -> ClientConfig:
    return ClientConfig(
        jid=cfg.jid,
        password=cfg.password,
        resource=cfg.resource,
        register=cfg.register,
        require_tls=cfg.require_tls,
        stream_management=cfg.stream_management,
        csi_inactive=cfg.csi_inactive,
        keepalive=cfg.keepalive,
        keepalive_timeout=cfg.keepalive_timeout,
        whitespace_keepalive=cfg.whitespace_keepalive,
        host=cfg.host,
        port=cfg.port,
        direct_tls=cfg.direct_tls,
        ca_file=cfg.ca_file,
        verify_tls=cfg.verify_tls,
        client_cert=cfg.client_cert,
        client_key=cfg.client_key,
        parser_backend=cfg.parser_backend,
    )


class Agent:
    def __init__(self, cfg: DeviceConfig) -> None:
        self.cfg = cfg
        self.client = Client(client_config(cfg))
        self.client.on_event(self._on_event)
        self.client.on_message(self._on_message)

    def _on_message(self, msg: object) -> None:
        # the console (and its access control) will answer here; until then
        # the device answers nobody and says so in its log
        from stanzalink.xml import Element

        if isinstance(msg, Element) and msg.find("{jabber:client}body") is not None:
            log.info("message from %s not answered: no console yet", msg.get("from"))

    def _on_event(self, ev: object) -> None:
        if isinstance(ev, Online) and not ev.resumed:
            self.announce()

    def announce(self) -> None:
        """Send the device's presence (status line and priority)."""
        pres = E("{jabber:client}presence")
        if self.cfg.status:
            sub(pres, "{jabber:client}status", text=self.cfg.status)
        if self.cfg.priority:
            sub(pres, "{jabber:client}priority", text=str(self.cfg.priority))
        self.client.send(pres)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await self.client.start()
        waiter = asyncio.ensure_future(stop.wait())
        closed = asyncio.ensure_future(self.client._closed_event.wait())
        try:
            await asyncio.wait({waiter, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            closed.cancel()
            await self.client.close()
