"""Fixtures that start real servers for the integration tests."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from stanzalink.testing.ejabberd import SCRAM_HOST, Ejabberd, available, host_cert
from stanzalink.testing.prosody import Prosody, free_port, make_certs

_names = itertools.count(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def prosody(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prosody]:
    if shutil.which("prosody") is None or shutil.which("openssl") is None:
        pytest.fail("prosody and openssl are needed: run scripts/bootstrap.sh")
    root: Path = tmp_path_factory.mktemp("prosody")
    ca, cert, key = make_certs(root)
    server = Prosody(root=root, port=free_port(), tls_port=free_port(), ca=ca)
    server.write_config(cert, key)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def ejabberd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ejabberd]:
    """One real ejabberd for the whole run (started when first asked for)."""
    if not available() or shutil.which("openssl") is None:
        pytest.fail("ejabberd and openssl are needed: run scripts/bootstrap.sh")
    root: Path = tmp_path_factory.mktemp("ejabberd")
    ca, cert, key = make_certs(root)
    server = Ejabberd(
        root=root,
        port=free_port(),
        tls_port=free_port(),
        plain_port=free_port(),
        external_port=free_port(),
        ca=ca,
        scram_host=(SCRAM_HOST, *host_cert(root, SCRAM_HOST)),
    )
    server.write_config(cert, key)
    server.start(timeout=30)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def account(prosody: Prosody) -> tuple[str, str]:
    """A fresh registered account: (bare JID, password)."""
    user = f"user{next(_names)}"
    password = f"pw-{user}-secret"
    prosody.register(user, password)
    return f"{user}@{prosody.domain}", password
