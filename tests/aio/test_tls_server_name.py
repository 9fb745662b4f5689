"""The name the client hands ``ssl``: an ASCII domain as bytes (no ``idna``
codec loaded), any other as a string; the certificate is checked against
it either way."""

from __future__ import annotations

import ssl
import subprocess

import pytest

from stanzalink.aio.tls import server_name
from stanzalink_testing.prosody import DOMAIN, make_certs

from ..util import agent_pythonpath, python_cmd


def test_an_ascii_domain_goes_as_bytes_any_other_as_a_string() -> None:
    assert server_name("example.org") == b"example.org"
    assert server_name("127.0.0.1") == b"127.0.0.1"
    assert server_name("xn--bcher-kva.example") == b"xn--bcher-kva.example"
    assert server_name("bücher.example") == "bücher.example"


def handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, name: str | bytes) -> str:
    """A TLS handshake in memory; the name the client's SSL object holds."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=name)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = [False, False]
    for _ in range(20):
        for i, (obj, out, peer_in) in enumerate(((client, c_out, s_in), (server, s_out, c_in))):
            if not done[i]:
                try:
                    obj.do_handshake()
                    done[i] = True
                except ssl.SSLWantReadError:
                    pass
            peer_in.write(out.read())
        if all(done):
            break
    assert all(done), "the handshake did not finish"
    assert client.server_hostname is not None
    return client.server_hostname


@pytest.fixture(scope="module")
def contexts(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca, cert, key = make_certs(tmp_path_factory.mktemp("certs"))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    return server_ctx, ssl.create_default_context(cafile=str(ca))


def test_the_certificate_is_checked_against_the_name_given_as_bytes(
    contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_ctx, client_ctx = contexts
    assert handshake(server_ctx, client_ctx, server_name(DOMAIN)) == DOMAIN
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        handshake(server_ctx, client_ctx, server_name("other." + DOMAIN))


def test_an_ascii_name_loads_no_idna_codec() -> None:
    code = (
        "import ssl, sys\n"
        "from stanzalink.aio.tls import server_name\n"
        "ctx = ssl.create_default_context()\n"
        "ctx.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname=server_name(sys.argv[1]))\n"
        "print(sorted({'encodings.idna', 'stringprep', 'unicodedata'} & set(sys.modules)))\n"
    )
    out = subprocess.run(
        [*python_cmd(), "-c", code, DOMAIN],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": agent_pythonpath()},
    )
    assert out.stdout.strip() == "[]"
