"""The kernel's TCP keepalive as the adapter sets it, read back from a
real socket."""

from __future__ import annotations

import socket

import pytest

from stanzalink.aio.config import (
    TCP_KEEPALIVE_COUNT,
    TCP_KEEPALIVE_IDLE,
    TCP_KEEPALIVE_INTERVAL,
    ClientConfig,
)
from stanzalink.aio.connection import keepalive_options
from stanzalink.jid import JID

linux = pytest.mark.skipif(not hasattr(socket, "TCP_KEEPIDLE"), reason="Linux socket options")


def _applied(cfg: ClientConfig) -> dict[str, int]:
    with socket.socket() as sock:
        for level, option, value in keepalive_options(cfg):
            sock.setsockopt(level, option, value)
        tcp = socket.IPPROTO_TCP
        return {
            "on": sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
            "idle": sock.getsockopt(tcp, socket.TCP_KEEPIDLE),
            "interval": sock.getsockopt(tcp, socket.TCP_KEEPINTVL),
            "count": sock.getsockopt(tcp, socket.TCP_KEEPCNT),
            "user_timeout": sock.getsockopt(tcp, socket.TCP_USER_TIMEOUT),
        }


@linux
def test_defaults_notice_a_dead_path_within_two_idle_intervals() -> None:
    got = _applied(ClientConfig(JID.parse("d@example.net")))
    assert got == {
        "on": 1,
        "idle": TCP_KEEPALIVE_IDLE,
        "interval": TCP_KEEPALIVE_INTERVAL,
        "count": TCP_KEEPALIVE_COUNT,
        "user_timeout": 420_000,
    }
    assert got["idle"] + got["interval"] * got["count"] <= 2 * got["idle"]


@linux
def test_whole_seconds_within_the_kernel_limits() -> None:
    cfg = ClientConfig(
        JID.parse("d@example.net"),
        tcp_keepalive_idle=0.2,
        tcp_keepalive_interval=1.5,
        tcp_keepalive_count=500,
    )
    got = _applied(cfg)
    assert (got["idle"], got["interval"], got["count"]) == (1, 2, 127)
    assert got["user_timeout"] == (1 + 2 * 127) * 1000
