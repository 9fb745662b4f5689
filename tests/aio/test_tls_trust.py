"""The CAs the client trusts with no ``[server] ca_file``: the system's,
looked up in the hashed directory when it verifies a chain (nothing is
loaded up front); the bundle file when there is no hashed directory or the
environment names a file (``SSL_CERT_FILE``).  OpenSSL reads its
environment when the context is made, so each case runs in a child process
with an environment of its own."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from stanzalink.aio.tls import _hashed
from stanzalink_testing.prosody import DOMAIN, make_certs

from ..util import agent_pythonpath, python_cmd

# ssl_context for a config without ca_file (or with argv[1] as ca_file when
# given), its store's size, then a handshake in memory with each server
# certificate and key named after it: "ok", or the error's class and reason
CHILD = textwrap.dedent(
    """
    import json, ssl, sys
    from stanzalink.aio.config import ClientConfig
    from stanzalink.aio.tls import server_name, ssl_context
    from stanzalink.jid import JID

    def handshake(server_ctx, client_ctx):
        c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
        client = client_ctx.wrap_bio(c_in, c_out, server_hostname=server_name(sys.argv[2]))
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
                return "ok"
        return "unfinished"

    cfg = ClientConfig(jid=JID.parse("device@" + sys.argv[2]), password="x",
                       ca_file=sys.argv[1] or None)
    ctx = ssl_context(cfg)
    out = {"loaded": ctx.cert_store_stats()["x509"], "handshakes": []}
    pairs = sys.argv[3:]
    for cert, key in zip(pairs[::2], pairs[1::2]):
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(cert, key)
        try:
            out["handshakes"].append(handshake(server_ctx, ctx))
        except ssl.SSLError as exc:
            out["handshakes"].append(f"{type(exc).__name__} {exc.reason}")
    out["after"] = ctx.cert_store_stats()["x509"]
    print(json.dumps(out))
    """
)

REFUSED = "SSLCertVerificationError CERTIFICATE_VERIFY_FAILED"


def subject_hash(ca: Path) -> str:
    out = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(ca)],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two CAs, each with a server certificate for DOMAIN; a hashed
    directory holding the first CA under its hash name; a directory holding
    it under another name only; an empty directory."""
    ours = make_certs(tmp_path_factory.mktemp("ours"))
    other = make_certs(tmp_path_factory.mktemp("other"))
    hashed = tmp_path_factory.mktemp("hashed")
    (hashed / f"{subject_hash(ours[0])}.0").write_bytes(ours[0].read_bytes())
    named = tmp_path_factory.mktemp("named")
    (named / "ca.pem").write_bytes(ours[0].read_bytes())
    return {
        "ours": ours,
        "other": other,
        "hashed": hashed,
        "named": named,
        "empty": tmp_path_factory.mktemp("empty"),
    }


def run_child(pki: dict[str, Any], env: dict[str, str], ca_file: str = "") -> dict[str, Any]:
    """The child's report, for the server certificates of both CAs (ours
    first), with ``env`` as OpenSSL's variables and nothing else of ours."""
    args = [ca_file, DOMAIN]
    for name in ("ours", "other"):
        _, cert, key = pki[name]
        args += [str(cert), str(key)]
    out = subprocess.run(
        [*python_cmd(), "-c", CHILD, *args],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": agent_pythonpath(), **env},
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def test_a_hashed_directory_is_read_when_a_chain_is_verified_not_before(
    pki: dict[str, Any],
) -> None:
    got = run_child(pki, {"SSL_CERT_DIR": str(pki["hashed"])})
    assert got["loaded"] == 0  # nothing parsed up front
    assert got["handshakes"] == ["ok", REFUSED]  # our CA found by its hash; the other refused
    assert got["after"] == 1  # only the CA the chain named


def test_a_directory_without_hash_names_falls_back_to_the_bundle(pki: dict[str, Any]) -> None:
    if not os.path.isfile(ssl.get_default_verify_paths().openssl_cafile):
        pytest.skip("this system has no default CA bundle file")
    for name in ("empty", "named"):
        got = run_child(pki, {"SSL_CERT_DIR": str(pki[name])})
        assert got["loaded"] > 0, name  # the system's bundle, loaded up front
        # a CA in the directory under another name than its hash is not found
        assert got["handshakes"] == [REFUSED, REFUSED], name


def test_an_explicit_ssl_cert_file_is_loaded_as_before(pki: dict[str, Any]) -> None:
    env = {"SSL_CERT_FILE": str(pki["ours"][0]), "SSL_CERT_DIR": str(pki["empty"])}
    got = run_child(pki, env)
    assert got["loaded"] == 1  # that file, parsed up front
    assert got["handshakes"] == ["ok", REFUSED]
    # a hashed directory beside it does not take its place
    got = run_child(pki, {**env, "SSL_CERT_DIR": str(pki["hashed"])})
    assert got["loaded"] == 1
    assert got["handshakes"] == ["ok", REFUSED]


def test_a_ca_file_is_the_only_trust_whatever_the_environment(pki: dict[str, Any]) -> None:
    got = run_child(pki, {"SSL_CERT_DIR": str(pki["hashed"])}, ca_file=str(pki["other"][0]))
    assert got["loaded"] == 1
    assert got["handshakes"] == [REFUSED, "ok"]


def test_a_hash_name_is_eight_hex_digits_a_dot_and_a_number(tmp_path: Path) -> None:
    assert not _hashed(str(tmp_path / "missing"))
    for name in ("ca-certificates.crt", "README", "3513523f.r0", "3513523F.0", "3513523f."):
        (tmp_path / name).write_text("")
    assert not _hashed(str(tmp_path))  # a CRL (.r0) is no CA; OpenSSL writes lower case
    (tmp_path / "3513523f.10").write_text("")
    assert _hashed(str(tmp_path))


def test_hash_names_that_lead_nowhere_are_no_hashed_directory(tmp_path: Path) -> None:
    # CA files pruned from an image (/usr/share/ca-certificates), their links
    # and the bundle kept: the bundle is what still holds the CAs
    (tmp_path / "3513523f.0").symlink_to(tmp_path / "gone.pem")
    assert not _hashed(str(tmp_path))
    (tmp_path / "gone.pem").write_text("")
    assert _hashed(str(tmp_path))


# a handshake with a server certificate whose issuer is named argv[1]: the
# verify code (7: the issuer was found and the signature is not its; 20: no
# issuer of that name is trusted)
ISSUER_CHILD = textwrap.dedent(
    """
    import ssl, sys
    from stanzalink.aio.config import ClientConfig
    from stanzalink.aio.tls import server_name, ssl_context
    from stanzalink.jid import JID

    ctx = ssl_context(ClientConfig(jid=JID.parse("device@" + sys.argv[1]), password="x"))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(sys.argv[2], sys.argv[3])
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = ctx.wrap_bio(c_in, c_out, server_hostname=server_name(sys.argv[1]))
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    try:
        for _ in range(10):
            for obj, out, peer_in in ((client, c_out, s_in), (server, s_out, c_in)):
                try:
                    obj.do_handshake()
                except ssl.SSLWantReadError:
                    pass
                peer_in.write(out.read())
        print("ok")
    except ssl.SSLCertVerificationError as exc:
        print(exc.verify_code, ctx.cert_store_stats()["x509_ca"])
    """
)


def test_a_directory_ssl_cert_dir_names_adds_to_the_systems_cas(
    pki: dict[str, Any], tmp_path: Path
) -> None:
    # load_default_certs trusted the bundle beside SSL_CERT_DIR's directory:
    # a CA of the system's is still found with the environment naming another
    system = ssl.get_default_verify_paths().openssl_capath
    roots = sorted(Path(system).glob("*.0")) if _hashed(system) else []
    if not roots:
        pytest.skip("this system has no hashed CA directory")

    # a server certificate naming a system root as its issuer, signed by a
    # key of ours under that root's name (that root's signature it is not)
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp_path)

    openssl("genrsa", "-out", "fake.key", "2048")
    openssl("x509", "-in", str(roots[0]), "-signkey", "fake.key", "-out", "fake.pem")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={DOMAIN}",
            "-keyout", "server.key", "-out", "server.csr")  # fmt: skip
    (tmp_path / "ext.cnf").write_text(f"subjectAltName=DNS:{DOMAIN}\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "fake.pem", "-CAkey", "fake.key",
            "-CAcreateserial", "-days", "2", "-out", "server.pem",
            "-extfile", "ext.cnf")  # fmt: skip

    def verify_code(env: dict[str, str]) -> list[str]:
        args = [DOMAIN, str(tmp_path / "server.pem"), str(tmp_path / "server.key")]
        out = subprocess.run(
            [*python_cmd(), "-c", ISSUER_CHILD, *args],
            capture_output=True,
            text=True,
            env={"PYTHONPATH": agent_pythonpath(), **env},
            timeout=60,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        return out.stdout.split()

    # the system's root found (by its hash, not loaded up front), as without the variable
    assert verify_code({}) == ["7", "1"]
    assert verify_code({"SSL_CERT_DIR": str(pki["hashed"])}) == ["7", "1"]
