"""The README's "Try it" command, used the way a person would: run it, read
what it printed, log in with a real XMPP client with exactly that, talk to
the device (and restart it), press Ctrl-C, and find nothing left behind."""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple

import slixmpp

from stanzalink_testing.prosody import free_port

TRY_IT = Path(__file__).resolve().parents[2] / "examples" / "try_it.py"


class Output:
    """The command's stdout, read line by line in a thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        assert proc.stdout is not None
        threading.Thread(target=self._read, args=(proc.stdout,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self._q.put(line.rstrip("\n"))
        self._q.put(None)

    def until(self, needle: str, timeout: float, count: int = 1) -> None:
        """Read on until ``count`` lines hold ``needle``."""
        deadline = time.monotonic() + timeout
        while sum(needle in ln for ln in self.lines) < count:
            left = deadline - time.monotonic()
            assert left > 0, f"{needle!r} not printed within {timeout} s:\n" + self.text()
            try:
                line = self._q.get(timeout=left)
            except queue.Empty:
                continue
            assert line is not None, f"the command ended before {needle!r}:\n" + self.text()
            self.lines.append(line)

    def rest(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._q.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return
            if line is None:
                return
            self.lines.append(line)

    def field(self, pattern: str) -> str:
        for ln in self.lines:
            m = re.match(pattern, ln)
            if m:
                return m[1]
        raise AssertionError(f"no line matches {pattern!r}:\n" + self.text())

    def text(self) -> str:
        return "\n".join(self.lines)


def processes_mentioning(path: Path) -> list[str]:
    """Command lines of running processes that name ``path``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(path) in cmd:
            found.append(f"{proc.name}: {cmd}")
    return found


class Banner(NamedTuple):
    """What the command prints for a chat client."""

    account: str
    password: str
    device: str
    ca: str
    root: Path  # the server's directory


def read_banner(out: Output) -> Banner:
    """Read on until the command has printed what a chat client needs."""
    out.until("Ctrl-C stops the device", 60)
    return Banner(
        account=out.field(r"\s+your account\s+(\S+)$"),
        password=out.field(r"\s+password\s+(\S+)$"),
        device=out.field(r"\s+device\s+(\S+)\s"),
        ca=out.field(r"\s+CA certificate\s+(\S+)$"),
        root=Path(out.field(r"Server directory: (\S+)$")),
    )


def ctrl_c(proc: subprocess.Popen[str]) -> int:
    """Ctrl-C in a terminal (SIGINT to the whole process group); the exit
    status, or the process killed when it does not end within 30 s."""
    os.killpg(proc.pid, signal.SIGINT)
    try:
        return proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()


def assert_left_nothing(out: Output, root: Path | None) -> None:
    """The command's last words, and nothing of it left: no directory, no
    process naming it."""
    assert out.lines[-1] == "device and server stopped; temp dir removed", out.text()
    assert root is not None and not root.exists()
    assert processes_mentioning(root) == []


async def ask_status(jid: str, password: str, ca: str, port: int, device: str) -> str:
    """Log in, add the device, wait for its presence, send ``status``;
    the answer's body."""
    xmpp = slixmpp.ClientXMPP(f"{jid}/laptop", password)
    xmpp.ca_certs = ca
    loop = asyncio.get_running_loop()
    started: asyncio.Future[bool] = loop.create_future()
    online: asyncio.Future[str] = loop.create_future()
    answers: asyncio.Queue[str] = asyncio.Queue()
    xmpp.add_event_handler("session_start", lambda _: started.done() or started.set_result(True))
    xmpp.add_event_handler(
        "failed_all_auth",
        lambda _: started.done() or started.set_exception(AssertionError("log-in refused")),
    )
    xmpp.add_event_handler(
        "presence_available",
        lambda p: p["from"].bare == device and not online.done() and online.set_result(p["from"]),
    )
    xmpp.add_event_handler(
        "message",
        lambda m: m["from"].bare == device and m["body"] and answers.put_nowait(m["body"]),
    )
    xmpp.connect("127.0.0.1", port)
    try:
        await asyncio.wait_for(started, 20)
        await xmpp.get_roster()
        # what the command promised: the device is a contact already, both ways
        assert xmpp.client_roster[device]["subscription"] == "both"
        xmpp.send_presence_subscription(pto=device)  # "adds the device": nothing changes
        xmpp.send_presence()
        full = await asyncio.wait_for(online, 10)
        xmpp.send_message(mto=full, mbody="status", mtype="chat")
        while True:  # the console's greeting may come first
            body = await asyncio.wait_for(answers.get(), 10)
            if "status" in body and device in body:
                break
        # "restart": the command starts the agent again, as a service manager would
        xmpp.send_message(mto=full, mbody="restart", mtype="chat")
        assert "Restart the stanzalink agent now?" in await asyncio.wait_for(answers.get(), 10)
        xmpp.send_message(mto=full, mbody="yes", mtype="chat")
        assert "restarting the agent" in await asyncio.wait_for(answers.get(), 10)
        return body
    finally:
        xmpp.disconnect()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(xmpp.disconnected, 5)


def test_try_it_prints_what_a_chat_client_needs() -> None:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(TRY_IT), "--port", str(port), "--user", "carol"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,  # a process group of its own, as in a terminal
    )
    out = Output(proc)
    root: Path | None = None
    try:
        jid, secret, device, ca, root = read_banner(out)
        printed_port = int(out.field(r"\s+server\s+127\.0\.0\.1 port (\d+)\b"))
        assert (jid, device, printed_port) == ("carol@localhost", "device1@localhost", port)
        assert Path(ca).is_file() and Path(ca).parent == root
        # the CA folder for profanity's /tls certpath: the CA under its subject hash
        trust = list(Path(out.field(r"\s+/tls certpath set (\S+)$")).iterdir())
        assert [re.fullmatch(r"[0-9a-f]{8}\.0", f.name) is not None for f in trust] == [True]
        assert trust[0].read_bytes() == Path(ca).read_bytes()
        assert f"/connect carol@localhost server 127.0.0.1 port {port}" in out.text()
        assert processes_mentioning(root), "neither the server nor the device is running"

        body = asyncio.run(asyncio.wait_for(ask_status(jid, secret, ca, port, device), 60))
        assert "device1@localhost" in body, body
        out.until("(restart): starting it again", 20)
        out.until("online as device1@localhost/agent", 20, count=2)
    finally:
        code = ctrl_c(proc)
    out.rest(2)
    assert code == 0, out.text()
    assert "Traceback" not in out.text(), out.text()
    assert_left_nothing(out, root)


def test_try_it_says_so_when_the_device_dies() -> None:
    proc = subprocess.Popen(
        [sys.executable, str(TRY_IT), "--port", str(free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    out = Output(proc)
    try:
        root = read_banner(out).root
        agents = processes_mentioning(root / "device.toml")
        assert len(agents) == 1, agents
        os.kill(int(agents[0].split(":")[0]), signal.SIGKILL)
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    out.rest(2)
    assert code == 1, out.text()
    assert "FAILED: the device agent exited with status -9" in out.lines, out.text()
    assert_left_nothing(out, root)
