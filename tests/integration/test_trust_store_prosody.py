"""A client with no ``[server] ca_file`` logs in to a real Prosody whose CA
is in the system's hashed directory (``SSL_CERT_DIR`` here), and its TLS
context held no certificate before it connected: the CA was looked up by
its hash when the chain was verified.  A hashed directory without that CA
is refused."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from stanzalink_testing.prosody import Prosody, make_certs

from ..util import agent_pythonpath, python_cmd
from .peers import new_account

pytestmark = pytest.mark.integration

# a Client (no ca_file, no reconnect) that notes its store's size in each
# context it makes before connecting; prints what it saw, as JSON
CLIENT = textwrap.dedent(
    """
    import asyncio, json, sys
    from stanzalink.aio.client import Client, ClientConfig, ConnectionFailed
    from stanzalink.jid import JID

    class Noting(Client):
        made = []

        def _ssl_context(self):
            ctx = super()._ssl_context()
            self.made.append(ctx.cert_store_stats()["x509"])
            return ctx

    async def main():
        c = Noting(ClientConfig(jid=JID.parse(sys.argv[1]), password=sys.argv[2],
                   host="127.0.0.1", port=int(sys.argv[3]), reconnect=False))
        await c.start()
        try:
            await c.wait_online(60)
            out = {"online": True, "after": c._tls_context.cert_store_stats()["x509"]}
        except ConnectionFailed as exc:
            out = {"online": False, "error": str(exc)}
        out["before"] = c.made
        await c.close()
        print(json.dumps(out), flush=True)
    asyncio.run(main())
    """
)


def hashed_dir(d: Path, ca: Path) -> Path:
    """``d`` holding ``ca`` and its hash name, as ``openssl rehash`` makes it."""
    d.mkdir()
    (d / "ca.pem").write_bytes(ca.read_bytes())
    subprocess.run(["openssl", "rehash", str(d)], check=True, capture_output=True)
    return d


def login(prosody: Prosody, cert_dir: Path) -> dict[str, object]:
    jid, pw = new_account(prosody, "trust")
    out = subprocess.run(
        [*python_cmd(), "-c", CLIENT, jid, pw, str(prosody.port)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": agent_pythonpath(), "SSL_CERT_DIR": str(cert_dir)},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_the_servers_ca_is_found_in_the_hashed_directory_when_verifying(
    prosody: Prosody, tmp_path: Path
) -> None:
    got = login(prosody, hashed_dir(tmp_path / "certs", prosody.ca))
    assert got["online"] is True, got
    assert got["before"] == [0]  # one context, empty when it connected
    assert got["after"] == 1  # the server's CA, loaded by the handshake


def test_a_hashed_directory_without_the_servers_ca_is_refused(
    prosody: Prosody, tmp_path: Path
) -> None:
    other, _, _ = make_certs(tmp_path)
    got = login(prosody, hashed_dir(tmp_path / "certs", other))
    assert got["online"] is False
    assert got["before"] == [0]
    assert "certificate verify failed" in str(got["error"]), got
