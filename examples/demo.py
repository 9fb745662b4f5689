"""The main job, to watch: a device agent on a loopback XMPP server, and a
controller talking to it the way an ordinary chat client would.

1. starts a throwaway Prosody on 127.0.0.1 with its own CA, and a small
   local HTTP server (the device's web API); nothing is installed or left
   behind;
2. writes a device config (status line, avatar, identity, access list,
   HTTP origin, file export, console) and runs ``stanzalink run`` as a
   separate process: the device registers its account in-band, logs in
   (SCRAM over STARTTLS) and comes online;
3. the controller alice (slixmpp) logs in and subscribes; the device
   approves; its presence arrives with status, caps and avatar hash;
4. alice reads disco#info, software version, entity time and the vCard;
5. alice chats with the console (``help``, ``status``, ``reboot`` -> ``no``);
6. alice lists the ad-hoc commands (XEP-0050) and runs one with a form;
7. alice makes an HTTP request over XMPP (XEP-0332);
8. a stranger, mallory, asks to subscribe and sends ``status``: refused,
   no answer;
9. everything stops; one summary line; exit status 0 when every step
   passed, 1 when one failed (each step has a timeout), 130 on Ctrl-C.

Run it with ``make demo`` (or ``.venv/bin/python examples/demo.py``).  An
optional argument is how many seconds to stay connected at the end (0.5 by
default).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import http.server
import json
import logging
import re
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import slixmpp
from slixmpp.plugins.xep_0332 import stanza as slix_http

from stanzalink_testing.device import device_sections
from stanzalink_testing.prosody import Prosody, free_port, make_certs

T = TypeVar("T")
STARTED = time.monotonic()
_print_lock = threading.Lock()


def say(who: str, text: str) -> None:
    with _print_lock:
        print(f"[{who:10}] {text}", flush=True)


class StepFailed(Exception):
    pass


class Steps:
    """Each step of the demo: bounded by a timeout, counted for the summary."""

    def __init__(self) -> None:
        self.passed = 0

    async def run(self, title: str, make: Callable[[], Awaitable[T]], timeout: float) -> T:
        try:
            result = await asyncio.wait_for(make(), timeout)
        except TimeoutError:
            raise StepFailed(f"{title}: no answer within {timeout:g} s") from None
        except slixmpp.exceptions.IqError as exc:
            raise StepFailed(f"{title}: {exc.condition} {exc.text}".rstrip()) from None
        except slixmpp.exceptions.IqTimeout:
            raise StepFailed(f"{title}: the IQ was not answered") from None
        self.passed += 1
        return result


def check(ok: bool, what: str) -> None:
    if not ok:
        raise StepFailed(what)


# ------------------------------------------------------------ the device's side
class DeviceOutput:
    """The agent's log lines: shown (INFO and above, without the timestamp)
    and kept, so that the demo can wait for one."""

    LINE = re.compile(r"^\S+ \S+ (?P<level>[A-Z]+) (?P<logger>[\w.]+): (?P<msg>.*)$")
    QUIET = ("stanzalink.audit",)  # the console's audit trail: the replies show it

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.cond = threading.Condition()

    def pump(self, stream: Any) -> None:
        for raw in iter(stream.readline, b""):
            text = raw.decode(errors="replace").rstrip()
            m = self.LINE.match(text)
            if m is None:
                say("device", text)
            elif m["logger"] not in self.QUIET:
                level = "" if m["level"] == "INFO" else f"{m['level']} "
                say("device", f"{level}{m['msg']}")
            with self.cond:
                self.lines.append(text)
                self.cond.notify_all()

    def wait_for(self, needle: str, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = next((ln for ln in self.lines if needle in ln), None)
                if found is not None or time.monotonic() >= deadline:
                    return found
                self.cond.wait(deadline - time.monotonic())

    async def said(self, needle: str, timeout: float) -> str:
        found = await asyncio.to_thread(self.wait_for, needle, timeout)
        if found is None:
            raise StepFailed(f"the device did not log {needle!r} within {timeout:g} s")
        return found


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A small valid PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


SAMPLE_LOG = """\
2026-12-01T08:00:01Z INFO boot: firmware 2.4.1 started
2026-12-01T08:00:03Z INFO pump: pressure 2.1 bar
2026-12-01T09:12:44Z WARNING pump: pressure 2.9 bar, above 2.8
2026-12-01T09:13:10Z INFO pump: pressure back to 2.3 bar
"""


def device_config(root: Path, server: Prosody, device: str, origin_port: int) -> Path:
    d = server.domain
    (root / "export").mkdir()
    (root / "inbox").mkdir()
    (root / "export" / "pump.log").write_text(SAMPLE_LOG)
    (root / "avatar.png").write_bytes(png(32, 32, (0x2E, 0x86, 0xC1)))
    config = root / "device.toml"
    config.write_text(
        device_sections(server, device, "device-password", "pump station 7: all systems nominal")
        + f"""[identity]
name = "Pump station 7"
model = "Acme PS-200"
serial = "PS-000042"
photo = "{root / "avatar.png"}"

[access]
admin = ["alice@{d}"]
viewer = ["bob@{d}"]

[http]
origin = "http://127.0.0.1:{origin_port}"
paths = {{ "/api/" = "viewer" }}

[files]
inbox = "{root / "inbox"}"
export = ["{root / "export"}"]

[console]
banner = "Acme PS-200, pump station 7"
log_file = "{root / "export" / "pump.log"}"
reboot_command = ["true"]
"""
    )
    return config


@contextlib.contextmanager
def web_api() -> Iterator[int]:
    """The device's own web API, on loopback: what [http] origin points at."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asker = self.headers.get("X-Stanzalink-From", "?")
            role = self.headers.get("X-Stanzalink-Role", "?")
            say("web api", f"GET {self.path} for {asker} (role {role})")
            if self.path == "/api/status":
                body = json.dumps({"pressure_bar": 2.3, "pump": "running", "alarms": 0}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
            else:
                body = b"not found\n"
                self.send_response(404)
                self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()


try:  # looked up here: the child between fork and exec only calls it
    _prctl: Any = ctypes.CDLL(None).prctl
except (OSError, AttributeError):
    _prctl = None


def die_with_parent() -> None:
    """Run in the agent's child process before exec: it gets SIGTERM when
    the demo dies, even by SIGKILL (Linux's PR_SET_PDEATHSIG)."""
    if _prctl is not None:
        _prctl(1, int(signal.SIGTERM))


# ------------------------------------------------------------ the controllers
def client(server: Prosody, jid: str, password: str, *plugins: str) -> slixmpp.ClientXMPP:
    xmpp = slixmpp.ClientXMPP(jid, password)
    xmpp.ca_certs = str(server.ca)
    for plugin in plugins:
        xmpp.register_plugin(plugin)
    return xmpp


async def log_in(xmpp: slixmpp.ClientXMPP, server: Prosody) -> None:
    ready = asyncio.get_running_loop().create_future()

    def failed(why: str) -> None:
        if not ready.done():
            ready.set_exception(StepFailed(f"{xmpp.boundjid.bare} could not log in: {why}"))

    xmpp.add_event_handler("session_start", lambda _: ready.done() or ready.set_result(True))
    xmpp.add_event_handler("failed_all_auth", lambda _: failed("authentication refused"))
    xmpp.connect("127.0.0.1", server.port)
    await ready


def indent(body: str, limit: int = 8) -> None:
    """A reply body, indented; without XEP-0393's code fences and blank
    lines (the transcript is short), at most ``limit`` lines."""
    lines = [ln for ln in body.splitlines() if ln.strip() not in ("", "```")]
    for line in lines[:limit]:
        say("controller", f"    {line}")
    if len(lines) > limit:
        say("controller", f"    (… {len(lines) - limit} more lines)")


async def demo(
    server: Prosody, device: str, out: DeviceOutput, steps: Steps, linger: float
) -> None:
    full = f"{device}/agent"
    d = server.domain
    alice = client(
        server, f"alice@{d}/laptop", "alice-password",
        "xep_0030", "xep_0115", "xep_0092", "xep_0202", "xep_0054", "xep_0153",
        "xep_0004", "xep_0050", "xep_0131", "xep_0332",
    )  # fmt: skip
    presence: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def on_presence(p: Any) -> None:
        if p["from"].full == full and p["caps"]["ver"] and not presence.done():
            presence.set_result(p)

    alice.add_event_handler("presence_available", on_presence)
    inbox: asyncio.Queue[Any] = asyncio.Queue()
    alice.add_event_handler(
        "message", lambda m: m["from"].full == full and m["body"] and inbox.put_nowait(m)
    )
    try:
        # 3. log in, subscribe, the device's presence
        await steps.run("alice logs in", lambda: log_in(alice, server), 20)
        say("controller", f"alice logged in as {alice.boundjid}; asks {device} for presence")
        await steps.run("roster", alice.get_roster, 10)
        alice.send_presence()
        alice.send_presence_subscription(pto=device)

        async def subscribed() -> str:
            while alice.client_roster[device]["subscription"] != "both":
                await asyncio.sleep(0.05)
            return "both"

        sub = await steps.run("subscription", subscribed, 10)
        say("controller", f"subscription {sub}: the device approved alice and asked for hers")
        p = await steps.run("device presence", lambda: presence, 10)
        say("controller", f"presence from {full}: {p['status']!r}")
        ver = p["caps"]["ver"]

        async def caps_verified() -> None:
            while await alice.plugin["xep_0115"].get_verstring(full) != ver:
                await asyncio.sleep(0.05)

        await steps.run("caps verification", caps_verified, 10)
        say("controller", f"  caps {p['caps']['node']} ver={ver} (slixmpp checked the hash)")
        photo = p["vcard_temp_update"]["photo"]
        expect = hashlib.sha1((server.root / "avatar.png").read_bytes()).hexdigest()
        check(photo == expect, f"avatar hash {photo!r} is not the SHA-1 of avatar.png")
        say("controller", f"  avatar {photo} (SHA-1 of avatar.png)")

        # 4. who is it?
        info = await steps.run("disco#info", lambda: alice.plugin["xep_0030"].get_info(full), 10)
        ident = next(iter(info["disco_info"]["identities"]))
        feats = sorted(info["disco_info"]["features"])
        say("controller", f"disco#info: {ident[0]}/{ident[1]} {ident[3]!r}, {len(feats)} features:")
        short = [re.sub(r"^(http://jabber.org/protocol/|urn:xmpp:)", "", f) for f in feats]
        hashes = [f.split(":")[1] for f in short if f.startswith("hash-function-text-names:")]
        short = [f for f in short if not f.startswith("hash-function-text-names:")]
        if hashes:
            short.append(f"(hashes: {' '.join(hashes)})")
        row: list[str] = []
        for word in short:
            if row and len(" ".join([*row, word])) > 92:
                say("controller", "    " + " ".join(row))
                row = []
            row.append(word)
        say("controller", "    " + " ".join(row))
        v = await steps.run("version", lambda: alice.plugin["xep_0092"].get_version(full), 10)
        sv = v["software_version"]
        say("controller", f"version: {sv['name']} {sv['version']} on {sv['os']}")
        t = await steps.run("time", lambda: alice.plugin["xep_0202"].get_entity_time(full), 10)
        # read as sent: slixmpp 1.17 appends a second Z to <utc/> when parsing it
        utc = t.xml.findtext("{urn:xmpp:time}time/{urn:xmpp:time}utc")
        tzo = t.xml.findtext("{urn:xmpp:time}time/{urn:xmpp:time}tzo")
        say("controller", f"time: {utc} (tzo {tzo})")

        async def vcard() -> Any:  # the device stores its card right after login
            while True:
                iq = await alice.plugin["xep_0054"].get_vcard(device, cached=False)
                card = iq["vcard_temp"]
                if card["FN"]:
                    return card
                await asyncio.sleep(0.2)

        card = await steps.run("vCard", vcard, 10)
        # the server's copy is public (name and photo); the device tells controllers the rest
        photo = "with photo" if card["PHOTO"]["BINVAL"] else "no photo"
        say("controller", f"vCard from the server (anyone may read it): {card['FN']}, {photo}")
        own = await steps.run(
            "vCard", lambda: alice.plugin["xep_0054"].get_vcard(full, cached=False), 10
        )
        mine = own["vcard_temp"]
        say("controller", f"vCard from the device: {mine['FN']}, {mine['TITLE']}, {mine['NOTE']}")

        # 5. the chat console
        async def chat(line: str, replies: int = 1, limit: int = 8) -> None:
            say("controller", f"alice types: {line}")
            alice.send_message(mto=full, mbody=line, mtype="chat")
            for _ in range(replies):
                msg = await inbox.get()
                indent(msg["body"], limit)

        await steps.run("console help", lambda: chat("help", 2, 16), 10)  # greeting + help
        await steps.run("console status", lambda: chat("status", 1, 7), 10)
        await steps.run("console reboot", lambda: chat("reboot"), 10)
        await steps.run("console no", lambda: chat("no"), 10)

        # 6. ad-hoc commands
        adhoc = alice.plugin["xep_0050"]
        items = await steps.run("ad-hoc list", lambda: adhoc.get_commands(full), 10)
        names = sorted(node for _, node, _ in items["disco_items"]["items"])
        say("controller", f"ad-hoc commands: {' '.join(names)}")
        first = await steps.run("ad-hoc execute log", lambda: adhoc.send_command(full, "log"), 10)
        form = first["command"]["form"]
        fields = ", ".join(
            f"{var} ({f['type']}, {f['value'] or '-'})" for var, f in form.get_fields().items()
        )
        say("controller", f"  'log' asks: {form['title']!r}: {fields}")
        submit = alice.plugin["xep_0004"].make_form(ftype="submit")
        submit.add_field(var="lines", value="3")
        submit.add_field(var="level", value="info")
        say("controller", "  alice submits lines=3 level=info")
        done = await steps.run(
            "ad-hoc submit",
            lambda: adhoc.send_command(
                full, "log", action="complete", payload=submit,
                sessionid=first["command"]["sessionid"],
            ),
            10,
        )  # fmt: skip
        check(done["command"]["status"] == "completed", "the command did not complete")
        for f in done["command"]["form"].get_fields().values():
            value = f["value"]
            lines = value if isinstance(value, list) else str(value).splitlines()
            if f["type"] == "text-multi":  # the label, then the lines
                lines = [f"{f['label']}:", *lines] if f["label"] else lines
            elif f["label"]:
                lines = [f"{f['label']}: {ln}" for ln in lines]
            for ln in lines:
                say("controller", f"    {ln}")
        for _, note in done["command"]["notes"]:
            say("controller", f"    note: {note}")

        # 7. HTTP over XMPP
        http = alice.plugin["xep_0332"]
        say("controller", "alice: GET /api/status over XMPP (XEP-0332)")
        iq = await steps.run(
            "HTTP request",
            lambda: http.send_request(
                to=full, method="GET", resource="/api/status",
                headers={"Accept": "application/json"}, timeout=10,
            ),
            12,
        )  # fmt: skip
        resp = iq["http-resp"]
        body = iq.xml.findtext("{urn:xmpp:http}resp/{urn:xmpp:http}data/{urn:xmpp:http}text")
        ctype = resp["headers"]["Content-Type"]
        say("controller", f"  HTTP {resp['code']} {resp['message']}, {ctype}")
        say("controller", f"    {body}")
        check(resp["code"] == 200, f"HTTP status {resp['code']}")

        # 8. a stranger
        await stranger(server, full, device, out, steps)
        await asyncio.sleep(linger)
    finally:
        alice.disconnect()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(alice.disconnected, 5)


async def stranger(
    server: Prosody, full: str, device: str, out: DeviceOutput, steps: Steps
) -> None:
    mallory = client(server, f"mallory@{server.domain}/phone", "mallory-password")
    refused: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    mallory.add_event_handler(
        "presence_unsubscribed",
        lambda p: p["from"].bare == device and not refused.done() and refused.set_result("x"),
    )
    answers: list[Any] = []
    mallory.add_event_handler("message", lambda m: m["from"].bare == device and answers.append(m))
    try:
        await steps.run("mallory logs in", lambda: log_in(mallory, server), 20)
        await steps.run("mallory's roster", mallory.get_roster, 10)
        say("stranger", f"mallory logged in; asks {device} for presence")
        mallory.send_presence()
        mallory.send_presence_subscription(pto=device)
        await steps.run("subscription refused", lambda: refused, 10)
        say("stranger", "the device refused: unsubscribed")
        say("stranger", "mallory types: status")
        mallory.send_message(mto=full, mbody="status", mtype="chat")
        await steps.run(
            "denial logged", lambda: out.said(f"denied message to mallory@{server.domain}", 10), 12
        )
        await asyncio.sleep(1.0)  # an answer would have come by now
        if answers:
            raise StepFailed(f"the device answered the stranger: {answers[0]['body']!r}")
        say("stranger", "no answer (after 1 s)")
    finally:
        mallory.disconnect()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(mallory.disconnected, 5)


# ------------------------------------------------------------ main
def stop_on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main() -> int:
    logging.basicConfig(level=logging.ERROR)
    linger = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with &
    steps = Steps()
    status = 1
    # slixmpp 1.17's xep_0332 names its elements 'request' and 'response';
    # XEP-0332 (and its schema) says <req/> and <resp/>: corrected here
    slix_http.HTTPRequest.name, slix_http.HTTPResponse.name = "req", "resp"
    with tempfile.TemporaryDirectory(prefix="stanzalink-demo-") as tmp, web_api() as origin_port:
        root = Path(tmp)
        ca, cert, key = make_certs(root)
        server = Prosody(root=root, port=free_port(), tls_port=free_port(), ca=ca)
        server.write_config(cert, key)
        agent: subprocess.Popen[bytes] | None = None
        try:
            server.start()
            for user in ("alice", "bob", "mallory"):
                server.register(user, f"{user}-password")
            say("server", f"Prosody on 127.0.0.1:{server.port} for {server.domain}")
            say(
                "server", "accounts: alice (the device's admin), bob (viewer), mallory (a stranger)"
            )
            device = f"device1@{server.domain}"
            config = device_config(root, server, device, origin_port)
            say(
                "web api", f"the device's web API on http://127.0.0.1:{origin_port} ([http] origin)"
            )
            out = DeviceOutput()
            agent = subprocess.Popen(
                [sys.executable, "-m", "stanzalink", "run", "--config", str(config)],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
            threading.Thread(target=out.pump, args=(agent.stdout,), daemon=True).start()
            if out.wait_for("online as", 20) is None:
                raise StepFailed("the device did not come online within 20 s")
            steps.passed += 1
            asyncio.run(demo(server, device, out, steps, linger))
            status = 0
        except StepFailed as exc:
            say("demo", f"FAILED: {exc}")
        except KeyboardInterrupt:
            say("demo", "interrupted")
            status = 130
        except Exception as exc:  # a failure in a step: say what, then clean up
            say("demo", f"FAILED: {type(exc).__name__}: {exc}")
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: still clean up
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            if agent is not None:
                agent.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    agent.wait(10)
                if agent.poll() is None:
                    agent.kill()
                code = agent.wait()
                say("demo", f"device agent exited with status {code}")
                if code != 0 and status == 0:
                    status = 1
            server.stop()
            say("server", "stopped")
    took = time.monotonic() - STARTED
    outcome = "passed" if status == 0 else ("interrupted" if status == 130 else "FAILED")
    left = "temp dir removed" if not root.exists() else f"temp dir {root} LEFT BEHIND"
    say("demo", f"{outcome}: {steps.passed} steps in {took:.1f} s; {left}")
    return status


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # before anything was started (the rest cleaned up)
        say("demo", "interrupted")
        sys.exit(130)
