#!/usr/bin/env python3
"""Screenshots of the device's chat console in two real chat clients.

Starts a throwaway Prosody on loopback (its own CA, :mod:`stanzalink_testing.prosody`)
and a device agent, then:

- Pidgin (libpurple, renders XHTML-IM) under Xvfb, with a preconfigured
  account in a temporary ``~/.purple`` that trusts the throwaway certificate;
  the commands are sent through Pidgin's own D-Bus interface, so they show in
  its conversation window as typed; the window is captured with ImageMagick's
  ``import`` after ``help`` and after ``status``;
- profanity (a terminal client: the plain body) under tmux; the pane is
  captured as text after ``status`` and rendered to a PNG with ImageMagick.

Run from the tree (``make screenshots``)::

    PYTHONPATH=agent .venv/bin/python scripts/screenshots.py [--out DIR] [--only CLIENT]

Needs Debian's prosody, openssl, pidgin, dbus-x11, xvfb, xdotool, imagemagick,
profanity, tmux and fonts-dejavu-core (``scripts/bootstrap.sh --screenshots``).
Everything it starts runs from a temporary directory and is stopped at the
end.  The tests drive profanity and finch with the parts defined here.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from stanzalink_testing.device import device_sections
from stanzalink_testing.prosody import Prosody, free_port, make_certs

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
ALICE, ALICE_PASSWORD = "alice", "alice-password"
DEVICE = "device1"
SCREEN = (1280, 1024)  # Xvfb's
DBUS_DEST = "im.pidgin.purple.PurpleService"
DBUS_PATH = "/im/pidgin/purple/PurpleObject"
DBUS_IFACE = "im.pidgin.purple.PurpleInterface"


# the test server's modules and mod_adhoc: profanity offers /cmd only when the
# server itself lists ad-hoc commands
ADHOC_SERVER = """modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "ping"; "register";
  "vcard_legacy"; "version"; "smacks"; "csi_simple"; "carbons"; "posix"; "adhoc" }"""


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.25)
    raise RuntimeError(f"timed out waiting for {what}")


# ------------------------------------------------------------------ server and device
@dataclass
class World:
    tmp: Path
    server: Prosody
    device: str  # bare JID
    alice: str  # bare JID
    cert: Path  # the server's certificate


def device_config(root: Path, server: Prosody, device: str, alice: str) -> Path:
    config = root / "device.toml"
    config.write_text(
        device_sections(server, device, "device-password", "pump station 7: all systems nominal")
        + f"""[access]
admin = ["{alice}"]

[console]
banner = "Acme PS-200, pump station 7"
reboot_command = ["true"]
"""
    )
    return config


@contextlib.contextmanager
def world() -> Iterator[World]:
    """A Prosody and a device answering on it, for as long as the block runs."""
    with tempfile.TemporaryDirectory(prefix="stanzalink-shots-") as name:
        tmp = Path(name)
        (tmp / "server").mkdir()
        ca, cert, key = make_certs(tmp / "server")
        server = Prosody(tmp / "server", free_port(), free_port(), ca)
        server.write_config(cert, key, ADHOC_SERVER)
        server.start()
        device = None
        try:
            server.register(ALICE, ALICE_PASSWORD)
            jid = f"{DEVICE}@{server.domain}"
            alice = f"{ALICE}@{server.domain}"
            config = device_config(tmp, server, jid, alice)
            env = {**os.environ, "PYTHONPATH": str(ROOT / "agent")}
            log = open(tmp / "device.log", "wb")  # noqa: SIM115 - lives with the process
            device = subprocess.Popen(
                [sys.executable, "-m", "stanzalink", "run", "--config", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
            wait_for(
                "the device to come online",
                lambda: b"online" in (tmp / "device.log").read_bytes() or device.poll(),
            )
            if device.poll() is not None:
                raise RuntimeError((tmp / "device.log").read_text())
            yield World(tmp, server, jid, alice, cert)
        finally:
            if device is not None:
                device.terminate()
                device.wait(10)
            server.stop()


# ------------------------------------------------------------------ Pidgin
PIDGIN_ACCOUNTS = """<?xml version='1.0' encoding='UTF-8' ?>
<account version='1.0'>
 <account>
  <protocol>prpl-jabber</protocol>
  <name>{jid}/pidgin</name>
  <password>{password}</password>
  <settings>
   <setting name='connect_server' type='string'>127.0.0.1</setting>
   <setting name='port' type='int'>{port}</setting>
   <setting name='connection_security' type='string'>require_tls</setting>
   <setting name='auth_plain_in_clear' type='bool'>0</setting>
  </settings>
  <settings ui='gtk-gaim'>
   <setting name='auto-login' type='bool'>1</setting>
  </settings>
  <current_error/>
 </account>
</account>
"""
PIDGIN_PREFS = """<?xml version='1.0' encoding='UTF-8' ?>
<pref version='1' name='/'>
 <pref name='pidgin'>
  <pref name='conversations'>
   <pref name='im'>
    <pref name='default_width' type='int' value='{width}'/>
    <pref name='default_height' type='int' value='{height}'/>
   </pref>
   <pref name='show_incoming_formatting' type='bool' value='1'/>
   <pref name='use_smooth_scrolling' type='bool' value='0'/>
  </pref>
  <pref name='blist'>
   <pref name='show_buddy_icons' type='bool' value='0'/>
  </pref>
 </pref>
 <pref name='purple'>
  <pref name='sound'>
   <pref name='method' type='string' value='none'/>
  </pref>
 </pref>
</pref>
"""


def pidgin_home(w: World, home: Path, width: int, height: int) -> None:
    """A ``~/.purple`` with Alice's account and the throwaway server's
    certificate trusted.  libpurple reads CAs only from system paths, so the
    certificate goes in its cache of accepted peer certificates, under the
    host Pidgin connects to (the account's connect server): what a person
    does by accepting it once in the dialog."""
    purple = home / ".purple"
    (purple / "certificates" / "x509" / "tls_peers").mkdir(parents=True)
    shutil.copy(w.cert, purple / "certificates" / "x509" / "tls_peers" / "127.0.0.1")
    accounts = PIDGIN_ACCOUNTS.format(jid=w.alice, password=ALICE_PASSWORD, port=w.server.port)
    (purple / "accounts.xml").write_text(accounts)
    (purple / "prefs.xml").write_text(PIDGIN_PREFS.format(width=width, height=height))


def dbus(env: dict[str, str], method: str, *args: str) -> str:
    argv = ["dbus-send", "--session", "--print-reply", f"--dest={DBUS_DEST}", DBUS_PATH]
    out = subprocess.run(
        [*argv, f"{DBUS_IFACE}.{method}", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
    )
    if out.returncode:
        raise RuntimeError(f"{method}: {out.stderr.strip()}")
    return out.stdout


def dbus_int(env: dict[str, str], method: str, *args: str) -> int:
    m = re.search(r"int32 (-?\d+)", dbus(env, method, *args))
    if m is None:
        raise RuntimeError(f"{method}: no integer in the reply")
    return int(m.group(1))


def window(env: dict[str, str], title: str) -> str:
    return subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--name", title],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[-1]


def xdotool(env: dict[str, str], *args: str) -> None:
    subprocess.run(["xdotool", *args], env=env, check=True, capture_output=True, timeout=10)


def shoot(env: dict[str, str], title: str, out: Path) -> None:
    argv = ["import", "-window", window(env, title), str(out)]
    subprocess.run(argv, env=env, check=True, timeout=30)
    print(f"wrote {out}")


def pidgin(w: World, out: Path, width: int = 880, height: int = 1000) -> list[Path]:
    """Pidgin's conversation window after ``help`` and after ``status``."""
    home = w.tmp / "pidgin-home"
    pidgin_home(w, home, width, height)
    display = f":{90 + os.getpid() % 100}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBUS_", "XDG_"))}
    env.update(HOME=str(home), DISPLAY=display, LANG="C.UTF-8", NO_AT_BRIDGE="1")
    procs: list[subprocess.Popen[bytes]] = []
    bus_pid = 0
    shots = [out / "pidgin-help.png", out / "pidgin-status.png"]
    try:
        xvfb = ["Xvfb", display, "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"]
        procs.append(subprocess.Popen(xvfb))
        wait_for("Xvfb", lambda: Path(f"/tmp/.X11-unix/X{display[1:]}").exists(), 10)
        bus_pid = session_bus(env)
        log = open(w.tmp / "pidgin.log", "wb")  # noqa: SIM115 - lives with the process
        procs.append(subprocess.Popen(["pidgin", "--debug"], env=env, stdout=log, stderr=log))
        find = ["PurpleAccountsFind", f"string:{w.alice}/pidgin", "string:prpl-jabber"]
        account = wait_for("Pidgin's D-Bus service", lambda: _try(lambda: dbus_int(env, *find)))
        try:
            wait_for(
                "Pidgin to log in",
                lambda: dbus_int(env, "PurpleAccountIsConnected", f"int32:{account}") == 1,
            )
        except RuntimeError:
            noise = ("certificate/x509/ca: Loaded", "nss: Trusting", "nss/x509: Loading")
            lines = (w.tmp / "pidgin.log").read_text(errors="replace").splitlines()
            tail = [ln for ln in lines if not ln.startswith(noise, 11)][-40:]
            raise RuntimeError("Pidgin did not log in:\n" + "\n".join(tail)) from None
        who = [f"int32:{account}", f"string:{w.device}"]
        conv = dbus_int(env, "PurpleConversationNew", "int32:1", *who)
        im = dbus_int(env, "PurpleConvIm", f"int32:{conv}")
        # no window manager: the buddy list out of the way, the conversation
        # window at the size asked for, at the right (Pidgin's dialogs, such
        # as the device's subscription request, open at the top left)
        with contextlib.suppress(subprocess.CalledProcessError):
            xdotool(env, "windowunmap", window(env, "Buddy List"))
        wid = wait_for("its window", lambda: _try_str(lambda: window(env, w.device)))
        xdotool(env, "windowmove", wid, str(SCREEN[0] - width - 10), "0")
        xdotool(env, "windowsize", wid, str(width), str(height))
        time.sleep(0.5)
        xdotool(env, "windowunmap", "--sync", wid)  # mapped again: drawn whole
        xdotool(env, "windowmap", "--sync", wid)
        time.sleep(1)
        for line, shot in zip(("help", "status"), shots, strict=True):
            dbus(env, "PurpleConvImSend", f"int32:{im}", f"string:{line}")
            time.sleep(4)  # the answer arrives and the window scrolls to it
            shoot(env, w.device, shot)
    finally:
        for p in reversed(procs):
            p.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(10)
        if bus_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(bus_pid, 15)
    return shots


def _try_str(f: Callable[[], str]) -> str | None:
    try:
        return f()
    except (subprocess.CalledProcessError, IndexError):
        return None


def _try(f: Callable[[], int]) -> int | None:
    try:
        return f()
    except (RuntimeError, subprocess.TimeoutExpired):
        return None


# ------------------------------------------------------------------ finch
def session_bus(env: dict[str, str]) -> int:
    """A D-Bus session bus of its own in ``env``; returns its pid."""
    bus = subprocess.run(
        ["dbus-launch", "--sh-syntax"], env=env, capture_output=True, text=True, check=True
    ).stdout
    # DBUS_SESSION_BUS_ADDRESS='…'; DBUS_SESSION_BUS_PID=123; (the pid unquoted)
    for key, value in re.findall(r"(DBUS_SESSION_BUS_\w+)='?([^';\n]*)'?;", bus):
        env[key] = value
    return int(env.get("DBUS_SESSION_BUS_PID", "0"))


@contextlib.contextmanager
def finch(w: World) -> Iterator[tuple[Tmux, Callable[[str], None]]]:
    """finch (libpurple's terminal client, which renders XHTML-IM) in tmux,
    logged in as Alice with the account of :func:`pidgin_home`, in a
    conversation with the device; yields the screen and a way to send a
    line (through libpurple's D-Bus interface, as if typed)."""
    home = w.tmp / "finch-home"
    pidgin_home(w, home, 0, 0)
    accounts = home / ".purple" / "accounts.xml"
    accounts.write_text(accounts.read_text().replace("gtk-gaim", "gnt-purple"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBUS_", "XDG_", "TMUX"))}
    env.pop("DISPLAY", None)
    env.update(HOME=str(home), TERM="xterm-256color", LANG="C.UTF-8")
    bus_pid = session_bus(env)
    tmux = Tmux(w.tmp, 100, 50, name="finch")
    try:
        tmux.start("finch", env)
        find = ["PurpleAccountsFind", f"string:{w.alice}/pidgin", "string:prpl-jabber"]
        account = wait_for("finch's D-Bus service", lambda: _try(lambda: dbus_int(env, *find)))
        wait_for(
            "finch to log in",
            lambda: dbus_int(env, "PurpleAccountIsConnected", f"int32:{account}") == 1,
        )
        # the device asks to see Alice's presence: that dialog closed (Alt+C
        # closes the window in front, the buddy list first)
        tmux.wait_for("Authorize buddy?")
        for _ in range(4):
            if "Authorize buddy?" not in tmux.pane():
                break
            tmux.run("send-keys", "-t", "shots", "M-c")
            time.sleep(0.5)
        who = [f"int32:{account}", f"string:{w.device}"]
        conv = dbus_int(env, "PurpleConversationNew", "int32:1", *who)
        im = dbus_int(env, "PurpleConvIm", f"int32:{conv}")
        tmux.wait_for(f"{w.device} (")

        def send(line: str) -> None:
            dbus(env, "PurpleConvImSend", f"int32:{im}", f"string:{line}")

        yield tmux, send
    finally:
        tmux.stop()
        if bus_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(bus_pid, 15)


def window_text(pane: str) -> list[str]:
    """The lines inside finch's window frame: borders, scroll bar and
    no-break spaces as plain spaces."""
    out = []
    for ln in pane.replace("\u00a0", " ").split("\n"):
        ln = ln.strip().strip("│").rstrip("▒↑↓ ").rstrip()
        out.append(ln)
    return out


# ------------------------------------------------------------------ profanity
class Tmux:
    """One detached tmux session on a private socket."""

    def __init__(self, tmp: Path, width: int = 110, height: int = 46, name: str = "tmux") -> None:
        self.socket = str(tmp / f"{name}.sock")
        self.width, self.height = width, height

    def run(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-S", self.socket, *args], capture_output=True, text=True, check=True
        ).stdout

    def start(self, command: str, env: dict[str, str]) -> None:
        subprocess.run(
            [
                "tmux",
                "-S",
                self.socket,
                "new-session",
                "-d",
                "-s",
                "shots",
                "-x",
                str(self.width),
                "-y",
                str(self.height),
                command,
            ],
            env=env,
            check=True,
        )

    def type(self, text: str) -> None:
        self.run("send-keys", "-t", "shots", "-l", text)
        self.run("send-keys", "-t", "shots", "Enter")

    def pane(self) -> str:
        return self.run("capture-pane", "-p", "-t", "shots")

    def wait_for(self, needle: str, timeout: float = 30.0) -> str:
        try:
            return str(wait_for(repr(needle), lambda: needle in (p := self.pane()) and p, timeout))
        except RuntimeError:
            raise RuntimeError(f"{needle!r} not on the screen:\n{self.pane()}") from None

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.run("kill-server")


@contextlib.contextmanager
def profanity(w: World) -> Iterator[Tmux]:
    """profanity in tmux, logged in as Alice, in a chat window with the device."""
    home = w.tmp / "profanity-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "TMUX"))}
    env.update(HOME=str(home), TERM="xterm-256color", LANG="C.UTF-8")
    tmux = Tmux(w.tmp)
    tmux.start("profanity", env)
    try:
        tmux.wait_for("Profanity")
        # "tls trust": TLS required, this server's certificate accepted
        tmux.type(f"/connect {w.alice} server 127.0.0.1 port {w.server.port} tls trust")
        tmux.wait_for("password")
        tmux.type(ALICE_PASSWORD)
        tmux.wait_for("logged in")
        tmux.type(f"/msg {w.device}")
        # the device asks for Alice's presence; she allows it and asks for
        # the device's (which /cmd needs: it runs commands of online contacts)
        tmux.type("/sub allow")
        tmux.type("/sub request")
        tmux.wait_for(f"{w.device} [online]")
        yield tmux
    finally:
        tmux.stop()


def text_png(text: str, out: Path) -> None:
    """The text of a terminal as a PNG (light grey on dark, DejaVu Sans Mono)."""
    # the text is the label itself: Debian's ImageMagick policy refuses
    # label:@FILE; escapes ImageMagick would read in it are doubled
    label = text.replace("\\", "\\\\").replace("%", "%%")
    subprocess.run(
        [
            "convert",
            "-background",
            "#1d1f21",
            "-fill",
            "#d8d8d8",
            "-font",
            "DejaVu-Sans-Mono",
            "-pointsize",
            "14",
            "-border",
            "12",
            "-bordercolor",
            "#1d1f21",
            f"label:{label}",
            str(out),
        ],
        check=True,
        timeout=60,
    )
    print(f"wrote {out}")


def profanity_shots(w: World, out: Path) -> list[Path]:
    with profanity(w) as tmux:
        tmux.type("status")
        tmux.wait_for("interface")
        time.sleep(1)
        shot = out / "profanity-status.png"
        # the screen, with the empty rows above the status bar cut to one
        text_png(re.sub(r"\n{3,}", "\n\n", tmux.pane().rstrip()) + "\n", shot)
    return [shot]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    ap.add_argument("--only", choices=("pidgin", "profanity"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with world() as w:
        if args.only in (None, "pidgin"):
            pidgin(w, args.out)
        if args.only in (None, "profanity"):
            profanity_shots(w, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
