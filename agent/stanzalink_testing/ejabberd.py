"""A real ejabberd run from a throwaway directory on loopback, with its own
CA and certificates: the second server of the integration tests.

Needs Debian's ``ejabberd`` (23.01) and ``openssl``.  The stock
``ejabberdctl`` switches to the ``ejabberd`` user and uses the system's
directories, so the directory gets a private copy that runs as the current
user, with its own node name, Erlang cookie and distribution port (no
shared ``epmd``), config, ``inetrc``, spool and logs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stanzalink_testing.prosody import DOMAIN, free_port

EJABBERDCTL = "/usr/sbin/ejabberdctl"
SCRAM_HOST = "scram.test"  # the tests' second host: accounts stored as SCRAM-SHA-1 hashes


def host_cert(d: Path, domain: str) -> tuple[Path, Path]:
    """Another server certificate from the CA that make_certs(d) made."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={domain}",
            "-keyout", f"{domain}.key", "-out", f"{domain}.csr")  # fmt: skip
    (d / f"{domain}.cnf").write_text(
        f"subjectAltName=DNS:{domain}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
    )
    openssl("x509", "-req", "-in", f"{domain}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", f"{domain}.pem",
            "-extfile", f"{domain}.cnf")  # fmt: skip
    return d / f"{domain}.pem", d / f"{domain}.key"


def client_cert(d: Path, jid: str) -> tuple[Path, Path]:
    """A client certificate for ``jid`` (RFC 6120 §13.7.1.4 xmppAddr) from
    the CA that make_certs(d) made: for SASL EXTERNAL."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    name = jid.replace("@", "_at_")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={jid}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr")  # fmt: skip
    (d / f"{name}.cnf").write_text(
        f"subjectAltName=otherName:1.3.6.1.5.5.7.8.5;UTF8:{jid}\n"
        "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n"
    )
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", f"{name}.pem",
            "-extfile", f"{name}.cnf")  # fmt: skip
    return d / f"{name}.pem", d / f"{name}.key"


def _q(value: object) -> str:
    """A YAML scalar (JSON strings are valid YAML)."""
    return json.dumps(str(value))


@dataclass
class Ejabberd:
    root: Path
    port: int
    tls_port: int
    ca: Path
    domain: str = DOMAIN
    plain_port: int | None = None  # a listener without TLS at all (to see PLAIN refused)
    # a direct-TLS listener that asks for client certificates (SASL EXTERNAL)
    external_port: int | None = None
    password_format: str = "plain"  # "plain" or "scram"
    scram_hash: str = "sha"  # the stored hash with password_format "scram"
    # a second virtual host whose accounts are stored as SCRAM hashes
    # (Debian's default): (domain, cert, key), see host_cert()
    scram_host: tuple[str, Path, Path] | None = None
    node: str = field(default_factory=lambda: f"sl{os.urandom(4).hex()}@localhost")
    cookie: str = field(default_factory=lambda: os.urandom(16).hex())
    dist_port: int = field(default_factory=free_port)
    # loopback HTTP admin API (mod_http_api): account commands in milliseconds
    # instead of an Erlang VM start per ejabberdctl call
    api_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> Path:
        return self.root / "ejabberd.yml"

    @property
    def ctl(self) -> Path:
        return self.root / "ejabberdctl"

    def write_config(self, cert: Path, key: Path, extra: str = "") -> None:
        """ejabberd.yml, ejabberdctl.cfg, inetrc and the private ejabberdctl.
        ``extra``: more top-level YAML."""
        if not Path(EJABBERDCTL).exists():
            raise RuntimeError("ejabberd is not installed (scripts/bootstrap.sh installs it)")
        for d in ("spool", "logs"):
            (self.root / d).mkdir(exist_ok=True)
        script = Path(EJABBERDCTL).read_text()
        script = script.replace("INSTALLUSER=ejabberd", "INSTALLUSER=")
        self.ctl.write_text(script)
        self.ctl.chmod(0o755)
        (self.root / "inetrc").write_text(
            '{lookup,["file","native"]}.\n{host,{127,0,0,1}, ["localhost"]}.\n'
        )
        (self.root / "ejabberdctl.cfg").write_text(
            f"ERLANG_NODE={self.node}\n"
            f'ERL_OPTIONS="-setcookie {self.cookie} -env ERL_CRASH_DUMP_BYTES 0"\n'
            f"ERL_DIST_PORT={self.dist_port}\n"
            "INET_DIST_INTERFACE=127.0.0.1\n"
            "ERL_EPMD_ADDRESS=127.0.0.1\n"
            "EJABBERD_BYPASS_WARNINGS=true\n"
            f"EJABBERD_PID_PATH={self.root}/ejabberd.pid\n"
            f"CONTRIB_MODULES_PATH={self.root}/contrib\n"
        )
        plain = ""
        if self.plain_port:
            plain = (
                f'  -\n    port: {self.plain_port}\n    ip: "127.0.0.1"\n'
                "    module: ejabberd_c2s\n    starttls: false\n"
            )
        if self.external_port:
            plain += (
                f'  -\n    port: {self.external_port}\n    ip: "127.0.0.1"\n'
                "    module: ejabberd_c2s\n    tls: true\n    tls_verify: true\n"
            )
        scram = f"auth_scram_hash: {self.scram_hash}\n" if self.password_format == "scram" else ""
        hosts = f"  - {_q(self.domain)}\n"
        certs = f"  - {_q(self.ca)}\n  - {_q(cert)}\n  - {_q(key)}\n"
        if self.scram_host:
            name, scert, skey = self.scram_host
            hosts += f"  - {_q(name)}\n"
            certs += f"  - {_q(scert)}\n  - {_q(skey)}\n"
            scram += (
                f"host_config:\n  {_q(name)}:\n    auth_password_format: scram\n"
                f"    auth_scram_hash: {self.scram_hash}\n"
            )
        self.config.write_text(
            f"""loglevel: info
log_rotate_count: 0
hosts:
{hosts}certfiles:
{certs}listen:
  -
    port: {self.port}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    max_stanza_size: 262144
    starttls_required: true
  -
    port: {self.tls_port}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    max_stanza_size: 262144
    tls: true
{plain}  -
    port: {self.api_port}
    ip: "127.0.0.1"
    module: ejabberd_http
    request_handlers:
      /api: mod_http_api
auth_method: internal
auth_password_format: {self.password_format}
{scram}c2s_cafile: {_q(self.ca)}
registration_timeout: infinity
s2s_access: none
api_permissions:
  "loopback admin":
    from:
      - ejabberd_ctl
      - mod_http_api
    who:
      ip: 127.0.0.1/8
    what:
      - "register"
      - "check_password"
      - "change_password"
      - "status"
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
  register:
    allow: all
shaper_rules:
  max_user_sessions: 10
modules:
  mod_admin_extra: {{}}
  mod_caps: {{}}
  mod_carboncopy: {{}}
  mod_client_state: {{}}
  mod_disco: {{}}
  mod_ping: {{}}
  mod_register:
    access: register
    ip_access: all
  mod_roster: {{}}
  mod_stream_mgmt:
    resume_timeout: 300
  mod_version: {{}}
{extra}"""
        )

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["HOME"] = str(self.root)  # no ~/.erlang.cookie outside the directory
        return env

    def _ctl_args(self, *args: str) -> list[str]:
        return [
            str(self.ctl),
            "--config-dir", str(self.root),
            "--config", str(self.config),
            "--ctl-config", str(self.root / "ejabberdctl.cfg"),
            "--logs", str(self.root / "logs"),
            "--spool", str(self.root / "spool"),
            "--node", self.node,
            *args,
        ]  # fmt: skip

    def start(self, timeout: float = 30.0) -> None:
        """Start in the foreground (a child process of ours) and wait until
        both client ports listen; fail with the log tail after ``timeout``."""
        log = open(self.root / "stdout.log", "wb")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(
            self._ctl_args("foreground"),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
            env=self._env(),
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        waiting = [self.port, self.tls_port, self.api_port]
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ejabberd exited at start:\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", waiting[0]), timeout=0.2):
                    waiting.pop(0)
                    if not waiting:
                        return
                    continue
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"ejabberd did not listen within {timeout} s:\n{self.log_tail()}")

    def ctl_run(self, *args: str, timeout: float = 30.0) -> str:
        """Run one ejabberdctl command against this node; its output."""
        res = subprocess.run(
            self._ctl_args(*args),
            capture_output=True,
            timeout=timeout,
            cwd=self.root,
            env=self._env(),
        )
        if res.returncode != 0:
            raise RuntimeError(
                f"ejabberdctl {' '.join(args[:1])} failed ({res.returncode}): "
                + (res.stdout + res.stderr).decode(errors="replace")[-800:]
            )
        return res.stdout.decode(errors="replace")

    def api(self, command: str, **args: str) -> Any:
        """One mod_http_api command on loopback; its JSON answer."""
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.api_port}/api/{command}",
            data=json.dumps(args).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")[:300]
            raise RuntimeError(f"ejabberd api {command}: HTTP {exc.code} {body}") from None

    def register(self, user: str, password: str, host: str | None = None) -> None:
        self.api("register", user=user, host=host or self.domain, password=password)

    def check_password(self, user: str, password: str, host: str | None = None) -> bool:
        try:
            return bool(
                self.api("check_password", user=user, host=host or self.domain, password=password)
                == 0
            )
        except RuntimeError:
            return False

    def stop(self) -> None:
        if self.proc is None:
            return
        # ejabberdctl runs the VM as its child, in the session started for
        # it: signal that whole group (the VM stops cleanly on SIGTERM)
        pgid = self.proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _group_alive(pgid):
            time.sleep(0.1)
        if _group_alive(pgid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        self.proc = None

    def log_tail(self, n: int = 30) -> str:
        out = []
        for p in (self.root / "logs" / "ejabberd.log", self.root / "logs" / "error.log",
                  self.root / "stdout.log"):  # fmt: skip
            if p.exists():
                out += [f"== {p.name}", *p.read_text(errors="replace").splitlines()[-n:]]
        return "\n".join(out)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def available() -> bool:
    return Path(EJABBERDCTL).exists() and shutil.which("erl") is not None
