"""A real Prosody run from a throwaway directory on loopback, with its own
CA and certificates: for the integration tests and the demo.

Needs Debian's ``prosody`` and ``openssl``.  As root, Prosody only starts
with ``run_as_root = true``, which the generated config sets.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

DOMAIN = "stanzalink.test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_certs(d: Path, domain: str = DOMAIN) -> tuple[Path, Path, Path]:
    """A private CA and a server certificate for ``domain``; returns
    (ca.pem, server.pem, server.key)."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=stanzalink test CA", "-keyout", "ca.key", "-out", "ca.pem",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={domain}",
            "-keyout", "server.key", "-out", "server.csr")  # fmt: skip
    ext = [
        f"subjectAltName=DNS:{domain}",
        "extendedKeyUsage=serverAuth",
        "basicConstraints=CA:FALSE",
    ]
    (d / "ext.cnf").write_text("\n".join(ext) + "\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", "server.pem",
            "-extfile", "ext.cnf")  # fmt: skip
    os.chmod(d / "server.key", 0o644)
    return d / "ca.pem", d / "server.pem", d / "server.key"


@dataclass
class Prosody:
    root: Path
    port: int
    tls_port: int
    ca: Path
    domain: str = DOMAIN
    proc: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> Path:
        return self.root / "prosody.cfg.lua"

    def write_config(
        self, cert: Path, key: Path, extra: str = "", modules: tuple[str, ...] = ()
    ) -> None:
        """The config file; ``extra`` is Lua added at global scope, ``modules``
        are enabled besides the usual ones (e.g. "adhoc": some clients offer
        ad-hoc commands only when the server itself has them)."""
        more = "".join(f' "{m}";' for m in modules)
        (self.root / "data").mkdir(exist_ok=True)
        root_line = "run_as_root = true\n" if os.geteuid() == 0 else ""
        self.config.write_text(
            f"""
daemonize = false
{root_line}pidfile = "{self.root}/prosody.pid"
data_path = "{self.root}/data"
log = {{ {{ levels = {{ min = "info" }}, to = "file", filename = "{self.root}/prosody.log" }} }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {self.port} }}
c2s_direct_tls_ports = {{ {self.tls_port} }}
s2s_ports = {{ }}
modules_enabled = {{ "roster"; "saslauth"; "tls"; "disco"; "ping"; "register"; "vcard_legacy";
  "version"; "smacks"; "csi_simple"; "carbons"; "posix";{more} }}
modules_disabled = {{ "s2s" }}
c2s_require_encryption = true
allow_registration = true
authentication = "internal_hashed"
c2s_direct_tls_ssl = {{ key = "{key}"; certificate = "{cert}" }}
{extra}
VirtualHost "{self.domain}"
  ssl = {{ key = "{key}"; certificate = "{cert}" }}
-- a host that presents the certificate of another name
VirtualHost "wrong.test"
  ssl = {{ key = "{key}"; certificate = "{cert}" }}
"""
        )

    def start(self, timeout: float = 20.0, preexec_fn: Callable[[], None] | None = None) -> None:
        """Start it and wait until it listens; ``preexec_fn`` runs in the
        child before exec (as in ``subprocess.Popen``)."""
        prosody = shutil.which("prosody")
        if prosody is None:
            raise RuntimeError("prosody is not installed (scripts/bootstrap.sh installs it)")
        log = open(self.root / "stdout.log", "wb")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(
            [prosody, "--config", str(self.config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
            preexec_fn=preexec_fn,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prosody exited at start:\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"prosody did not listen within {timeout} s:\n{self.log_tail()}")

    def register(self, user: str, password: str) -> None:
        subprocess.run(
            ["prosodyctl", "--config", str(self.config), "register", user, self.domain, password],
            check=True,
            capture_output=True,
            timeout=30,
        )

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def log_tail(self, n: int = 30) -> str:
        out = []
        for name in ("prosody.log", "stdout.log"):
            p = self.root / name
            if p.exists():
                out += p.read_text(errors="replace").splitlines()[-n:]
        return "\n".join(out)


@contextlib.contextmanager
def throwaway_prosody(prefix: str = "stanzalink-", extra: str = "") -> Iterator[Prosody]:
    """A Prosody in a new temporary folder (``prosody.root``, where a caller
    may write its own files too) with its own CA (``prosody.ca``) and
    certificate, on free ports, started; stopped and the folder removed on
    exit.  ``extra`` is Lua for its config (:meth:`Prosody.write_config`)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        root = Path(tmp)
        ca, cert, key = make_certs(root)
        prosody = Prosody(root=root, port=free_port(), tls_port=free_port(), ca=ca)
        prosody.write_config(cert, key, extra=extra)
        prosody.start()
        try:
            yield prosody
        finally:
            prosody.stop()
