"""Try it: a throwaway XMPP server and a device, for your own chat client.

One command (``make try``, or ``.venv/bin/python examples/try_it.py``):

1. starts a Prosody on 127.0.0.1 serving the domain ``localhost``, with its
   own CA and a certificate for ``localhost``, in a temporary directory;
2. creates an account for you (``alice@localhost`` by default, with a random
   password) and runs a device agent (``stanzalink run``) as
   ``device1@localhost``, with you as its admin;
3. makes the subscription mutual on both sides before you log in, so the
   device is already in your contact list;
4. prints what to type into profanity, Gajim or Dino: the account, the
   password, the server address and port, the CA file and the certificate
   fingerprints, the first commands;
5. keeps running, showing the device's log, until Ctrl-C (or SIGTERM): then
   it stops the device and the server, removes the directory, exits 0 (SIGHUP
   too: the terminal closed).  If
   the server or the device dies, it says so and exits 1.

Options: ``--port N`` (the client port; default 5222 when free, so clients
that cannot be told a port find the server), ``--user NAME``, ``--keep DIR``
(put the server's directory there and keep it afterwards).

Nothing on the device side is real: ``reboot`` runs ``echo``, ``restart``
makes this script start the agent again (as a service manager would).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import hashlib
import os
import secrets
import shutil
import signal
import socket
import ssl
import string
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, TextIO

# The one place this script imports the test servers' helpers (a throwaway
# Prosody with its own CA, the device's config): they are not part of the
# device's install.
from stanzalink_testing.device import device_sections
from stanzalink_testing.prosody import Prosody, free_port, make_certs

DOMAIN = "localhost"  # every client resolves it, and the certificate names it
DEVICE = "device1"
RESTART_EXIT_CODE = 75  # [console] restart_exit_code: "restart" typed in the console


class Stop(Exception):
    """Ctrl-C or SIGTERM: stop everything and exit 0."""


class Died(Exception):
    """The server or the device stopped by itself: exit 1."""


def say(text: str = "") -> None:
    print(text, flush=True)


def password(n: int = 16) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def fingerprints(cert: Path) -> tuple[str, str]:
    """The server certificate's SHA-1 as profanity shows it (hex) and its
    SHA-256 as most other clients do (hex pairs with colons)."""
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    sha256 = ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
    return hashlib.sha1(der).hexdigest(), sha256


def trust_dir(root: Path, ca: Path) -> Path:
    """A folder holding the CA under its OpenSSL subject hash: what a client
    that takes a CA *folder* (profanity's /tls certpath) needs."""
    folder = root / "trust"
    folder.mkdir()
    name = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(ca)],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    shutil.copyfile(ca, folder / f"{name}.0")
    return folder


def device_config(root: Path, server: Prosody, user_jid: str, device_password: str) -> Path:
    (root / "inbox").mkdir()
    (root / "export").mkdir()
    (root / "export" / "hello.txt").write_text("A file the device offers: try `ls`.\n")
    config = root / "device.toml"
    config.write_text(
        "# written by examples/try_it.py; removed when it stops\n"
        + device_sections(
            server,
            f"{DEVICE}@{server.domain}",
            device_password,
            "a throwaway device: try help, status",
        )
        + f"""[identity]
name = "stanzalink try-it device"

[access]
admin = ["{user_jid}"]

[files]
inbox = "{root / "inbox"}"
export = ["{root / "export"}"]

[console]
banner = "stanzalink try-it device (nothing here is real)"
log_file = "{root / "device.log"}"
reboot_command = ["echo", "a throwaway device: nothing rebooted"]
restart_exit_code = {RESTART_EXIT_CODE}
"""
    )
    return config


# ------------------------------------------------------------ the device agent
try:  # looked up here: the child between fork and exec only calls it
    _prctl: Any = ctypes.CDLL(None).prctl
except (OSError, AttributeError):
    _prctl = None


def own_group_dying_with_parent() -> None:
    """Run in a child (server or agent) before exec: a session of its own,
    so that Ctrl-C reaches only this script, which stops the children in
    order; and SIGTERM when this script dies, even by SIGKILL (Linux's
    PR_SET_PDEATHSIG)."""
    os.setsid()
    if _prctl is not None:
        _prctl(1, int(signal.SIGTERM))


class Device:
    """``stanzalink run`` as a child process; its log lines go to the
    terminal (prefixed) and to the file the console's ``log`` reads."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log: TextIO = open(log, "a", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.proc: subprocess.Popen[bytes] | None = None
        self.online = threading.Event()
        self._pump: threading.Thread | None = None

    def start(self) -> None:
        self.online.clear()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stanzalink", "run", "--config", str(self.config)],
            # this script starts the agent again after "restart", as a service manager does
            env=dict(os.environ, STANZALINK_SUPERVISED="1"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=own_group_dying_with_parent,
        )
        self._pump = threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True)
        self._pump.start()

    def _read(self, stream: Any) -> None:
        for raw in iter(stream.readline, b""):
            text = raw.decode(errors="replace").rstrip()
            self.log.write(text + "\n")
            self.log.flush()
            say(f"[device] {text}")
            if " online as " in text:
                self.online.set()

    def stop(self) -> int | None:
        code = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(10)
                if self.proc.poll() is None:
                    self.proc.kill()
            code = self.proc.wait()
            if self._pump is not None:
                self._pump.join(5)
            self.proc = None
        self.log.close()
        return code


# ------------------------------------------------------------ the roster, ready
async def befriend(server: Prosody, user: str, secret: str, device: str) -> None:
    """Log in once as the person and make the subscription with the device
    mutual: accept the device's request (it asks every controller when it
    starts) and ask for its presence (it pre-approved that).  Then the
    device is in the person's contact list before their client connects."""
    import slixmpp  # the test suite's XMPP client; imported only here

    xmpp = slixmpp.ClientXMPP(f"{user}@{server.domain}/try-it-setup", secret)
    xmpp.ca_certs = str(server.ca)
    ready = asyncio.get_running_loop().create_future()
    xmpp.add_event_handler("session_start", lambda _: ready.done() or ready.set_result(True))
    xmpp.add_event_handler(
        "failed_all_auth",
        lambda _: ready.done() or ready.set_exception(RuntimeError("log-in refused")),
    )
    xmpp.connect("127.0.0.1", server.port)
    try:
        await asyncio.wait_for(ready, 20)
        await xmpp.get_roster()
        xmpp.send_presence_subscription(pto=device, ptype="subscribed")
        xmpp.send_presence_subscription(pto=device, ptype="subscribe")
        deadline = time.monotonic() + 20
        while xmpp.client_roster[device]["subscription"] != "both":
            if time.monotonic() > deadline:
                raise RuntimeError("the subscription with the device did not become mutual")
            await asyncio.sleep(0.1)
    finally:
        xmpp.disconnect()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(xmpp.disconnected, 5)


# ------------------------------------------------------------ what to type
def instructions(
    server: Prosody, cert: Path, user: str, secret: str, device: str, root: Path
) -> str:
    d, p = server.domain, server.port
    me = f"{user}@{d}"
    sha1, sha256 = fingerprints(cert)
    trust = trust_dir(root, server.ca)
    port_note = "" if p == 5222 else " (not 5222: tell your client)"
    dino_note = "" if p == 5222 else " (run this with --port 5222)"
    return f"""
================================================================ stanzalink: try it
A throwaway XMPP server and a device are running. Log in with a chat client:

  your account   {me}
  password       {secret}
  device         {device}   (already your contact, subscribed both ways)
  server         127.0.0.1 port {p}{port_note}, STARTTLS
  CA certificate {server.ca}
  fingerprints   SHA-1   {sha1}
                 SHA-256 {sha256}

No client trusts that CA, made a minute ago: trust it, or accept the server
certificate once after comparing its fingerprint with the one above.

profanity 0.13
  /tls certpath set {trust}
  /connect {me} server 127.0.0.1 port {p}
  (type the password; without the certpath line, profanity shows the
  certificate: compare its Fingerprint, then /tls allow; afterwards
  /tls certpath clear removes the setting)
  /msg {device} help
Gajim    Add Account, {me} and the password, Advanced: host 127.0.0.1,
         port {p}, STARTTLS; accept the certificate after comparing the
         SHA-256 fingerprint.
Dino     has no host or port setting and trusts only the system's CAs:
         needs port 5222{dino_note} and, as root, the CA in the system store
         (cp {server.ca} /usr/local/share/ca-certificates/stanzalink-try.crt
         && update-ca-certificates; undo: rm that file, update-ca-certificates --fresh).

Then, in the chat with {device}:
  help      the commands your role (admin) may run
  status    what the device says about itself
  log       its log; ls, then get with a name, to fetch a file
Ad-hoc commands (XEP-0050), the same commands as forms: profanity
  /cmd list {device}/agent
  /cmd exec status {device}/agent     (/form cancel closes the form)
Gajim: the contact's menu, Execute Command.

Server directory: {root}
Ctrl-C stops the device and the server and removes that directory.
=================================================================================
"""


# ------------------------------------------------------------ main
def arguments(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Start a throwaway XMPP server and a device, and print what to "
        "type into a chat client to talk to it. Runs until Ctrl-C."
    )
    p.add_argument("--port", type=int, help="client port (default: 5222 when free, else any)")
    p.add_argument("--user", default="alice", help="your account's user name (default alice)")
    p.add_argument("--keep", type=Path, metavar="DIR", help="use DIR (new or empty) and keep it")
    args = p.parse_args(argv)
    if args.user == DEVICE or not args.user.isalnum():
        p.error(f"--user: letters and digits, not {DEVICE!r}")
    if args.keep is not None and args.keep.exists() and any(args.keep.iterdir()):
        p.error(f"--keep: {args.keep} is not empty")
    if args.port is not None and not 0 < args.port < 65536:
        p.error(f"--port: {args.port} is not a port number")
    if args.port is not None and not port_is_free(args.port):
        p.error(f"--port: 127.0.0.1:{args.port} is in use")
    return args


def stop_signal(signum: int, frame: Any) -> None:
    raise Stop(signal.Signals(signum).name)


def run(args: argparse.Namespace, root: Path) -> None:
    """Start everything in ``root``, print the instructions, watch until a
    signal (Stop) or a death (Died)."""
    port = args.port or (5222 if port_is_free(5222) else free_port())
    ca, cert, key = make_certs(root, DOMAIN)
    server = Prosody(root=root, port=port, tls_port=free_port(), ca=ca, domain=DOMAIN)
    # mod_adhoc: profanity runs ad-hoc commands only when the server has them too
    server.write_config(cert, key, modules=("adhoc",))
    device: Device | None = None
    try:
        say(f"starting Prosody for {DOMAIN} on 127.0.0.1:{port} in {root}")
        server.start(preexec_fn=own_group_dying_with_parent)
        secret = password()
        server.register(args.user, secret)
        user_jid, device_jid = f"{args.user}@{DOMAIN}", f"{DEVICE}@{DOMAIN}"
        device = Device(device_config(root, server, user_jid, password()), root / "device.log")
        device.start()
        if not device.online.wait(30):
            raise Died("the device did not come online within 30 s")
        asyncio.run(befriend(server, args.user, secret, device_jid))
        say(instructions(server, cert, args.user, secret, device_jid, root))
        while True:
            time.sleep(0.5)
            assert server.proc is not None and device.proc is not None
            if server.proc.poll() is not None:
                raise Died(f"Prosody exited with status {server.proc.returncode}:\n"
                           f"{server.log_tail(10)}")  # fmt: skip
            code = device.proc.poll()
            if code == RESTART_EXIT_CODE:
                say(f"the device agent exited with status {code} (restart): starting it again")
                device.stop()
                device = Device(device.config, root / "device.log")
                device.start()
            elif code is not None:
                raise Died(f"the device agent exited with status {code}")
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # still clean up
            signal.signal(signum, signal.SIG_IGN)
        if device is not None:
            device.stop()
        server.stop()


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # HUP: the terminal closed
        signal.signal(signum, stop_signal)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        root, tmp = args.keep.resolve(), None
    else:
        root = Path(tempfile.mkdtemp(prefix="stanzalink-try-"))
        tmp = root
    status = 0
    try:
        run(args, root)
    except Stop as why:
        say(f"\n{why}: stopping")
    except Died as why:
        say(f"FAILED: {why}")
        status = 1
    except Exception as exc:  # a start-up step failed: say which, then clean up
        say(f"FAILED: {type(exc).__name__}: {exc}")
        status = 1
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    left = f"kept {root}" if tmp is None else "temp dir removed"
    say(f"device and server stopped; {left}")
    return status


if __name__ == "__main__":
    sys.exit(main())
