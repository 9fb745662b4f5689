"""Fixtures that start real servers for the integration tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from stanzalink_testing.ejabberd import SCRAM_HOST, Ejabberd, available, host_cert
from stanzalink_testing.prosody import Prosody, free_port, make_certs

from .peers import new_account

PROXY65 = "proxy.stanzalink.test"  # the JID of the proxy65 component of `prosody_proxy65`


def proxy65_config(port: int, jid: str = PROXY65) -> str:
    """Prosody 0.12: the listener is a global service (proxy65_ports,
    proxy65_interfaces), the proxy a component; proxy65_address is what
    the streamhost answer names as host."""
    return f"""
proxy65_ports = {{ {port} }}
proxy65_interfaces = {{ "127.0.0.1" }}
Component "{jid}" "proxy65"
  proxy65_address = "127.0.0.1"
"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@contextmanager
def _running_prosody(
    factory: pytest.TempPathFactory, name: str, extra: str = ""
) -> Iterator[Prosody]:
    """A Prosody with its own CA in a fresh folder ``name``, ``extra`` Lua
    added to its config; stopped when the block ends."""
    if shutil.which("prosody") is None or shutil.which("openssl") is None:
        pytest.fail("prosody and openssl are needed: run scripts/bootstrap.sh")
    root: Path = factory.mktemp(name)
    ca, cert, key = make_certs(root)
    server = Prosody(root=root, port=free_port(), tls_port=free_port(), ca=ca)
    server.write_config(cert, key, extra=extra)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def prosody(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prosody]:
    with _running_prosody(tmp_path_factory, "prosody") as server:
        yield server


@pytest.fixture(scope="session")
def prosody_proxy65(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Prosody, int]]:
    """A Prosody with mod_proxy65 (component PROXY65 on loopback): (server,
    proxy port).  Accounts device1 and alice exist (password "<user>-password")."""
    proxy_port = free_port()
    with _running_prosody(
        tmp_path_factory, "prosody-proxy65", proxy65_config(proxy_port)
    ) as server:
        for user in ("device1", "alice"):
            server.register(user, f"{user}-password")
        yield server, proxy_port


@contextmanager
def running_ejabberd(
    factory: pytest.TempPathFactory, name: str, extra: str = "", scram_host: bool = True
) -> Iterator[Ejabberd]:
    """An ejabberd with its own CA in a fresh folder ``name``, ``extra``
    module lines added to its config; stopped when the block ends."""
    if not available() or shutil.which("openssl") is None:
        pytest.fail("ejabberd and openssl are needed: run scripts/bootstrap.sh")
    root: Path = factory.mktemp(name)
    ca, cert, key = make_certs(root)
    server = Ejabberd(
        root=root,
        port=free_port(),
        tls_port=free_port(),
        plain_port=free_port(),
        external_port=free_port(),
        ca=ca,
        scram_host=(SCRAM_HOST, *host_cert(root, SCRAM_HOST)) if scram_host else None,
    )
    server.write_config(cert, key, extra=extra)
    server.start(timeout=30)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def ejabberd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ejabberd]:
    """One real ejabberd for the whole run (started when first asked for)."""
    with running_ejabberd(tmp_path_factory, "ejabberd") as server:
        yield server


@pytest.fixture
def account(prosody: Prosody) -> tuple[str, str]:
    """A fresh registered account: (bare JID, password)."""
    return new_account(prosody, "user", "pw-{user}-secret")
