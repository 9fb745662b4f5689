"""The main job, to watch: a device agent on a loopback XMPP server, and a
controller talking to it.

1. starts a throwaway Prosody on 127.0.0.1 with its own CA (nothing is
   installed or left behind);
2. writes a device config and runs ``stanzalink run`` as a separate process:
   the device registers its account in-band, logs in (SCRAM over STARTTLS),
   enables stream management and announces its presence;
3. a controller (slixmpp, an ordinary XMPP client library) logs in, finds
   the device online, sends it messages and queries it;
4. stops everything after a few seconds (or at Ctrl-C).

Run it with ``make demo`` (or ``.venv/bin/python examples/demo.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import slixmpp

from stanzalink.testing.prosody import Prosody, free_port, make_certs


def say(who: str, text: str) -> None:
    print(f"[{who:10}] {text}", flush=True)


def pump(stream: object, who: str, online: threading.Event) -> None:
    for line in iter(stream.readline, b""):  # type: ignore[attr-defined]
        text = line.decode(errors="replace").rstrip()
        say(who, text)
        if "online as" in text:
            online.set()


async def controller(server: Prosody, device: str, seconds: float) -> None:
    xmpp = slixmpp.ClientXMPP(f"alice@{server.domain}/laptop", "alice-password")
    xmpp.ca_certs = str(server.ca)
    xmpp.register_plugin("xep_0199")
    xmpp.register_plugin("xep_0030")
    ready = asyncio.get_running_loop().create_future()
    xmpp.add_event_handler("session_start", lambda _: ready.done() or ready.set_result(True))
    xmpp.add_event_handler(
        "presence_available",
        lambda p: say("controller", f"presence from {p['from']}: {p['status'] or '(no status)'}"),
    )
    replies: asyncio.Queue[slixmpp.Message] = asyncio.Queue()
    xmpp.add_event_handler("message", replies.put_nowait)
    xmpp.connect("127.0.0.1", server.port)
    await asyncio.wait_for(ready, 30)
    say("controller", f"logged in as {xmpp.boundjid}")
    xmpp.send_presence()
    xmpp.send_presence_subscription(pto=device)
    say("controller", f"asked {device} for its presence")
    rtt = await xmpp.plugin["xep_0199"].ping(jid=server.domain, timeout=10)
    say("controller", f"server ping: {rtt * 1000:.1f} ms")
    xmpp.send_message(mto=f"{device}/agent", mbody="status", mtype="chat")
    say("controller", f"sent 'status' to {device}/agent")
    for _ in range(2):  # the console's greeting, then the answer
        reply = await asyncio.wait_for(replies.get(), 10)
        formatted = (
            "with XHTML-IM"
            if reply.xml.find("{http://jabber.org/protocol/xhtml-im}html") is not None
            else "plain"
        )
        say("controller", f"console reply ({formatted}):")
        for line in reply["body"].splitlines():
            say("controller", f"  {line}")
    try:
        await xmpp.plugin["xep_0030"].get_info(jid=f"{device}/agent", timeout=10)
        say("controller", "disco#info answered")
    except slixmpp.exceptions.IqError as exc:
        say("controller", f"disco#info: {exc.condition} (the device reveals nothing yet)")
    await asyncio.sleep(seconds)
    xmpp.disconnect()
    await asyncio.sleep(0.2)
    say("controller", "disconnected")


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    with tempfile.TemporaryDirectory(prefix="stanzalink-demo-") as tmp:
        root = Path(tmp)
        ca, cert, key = make_certs(root)
        server = Prosody(root=root, port=free_port(), tls_port=free_port(), ca=ca)
        server.write_config(cert, key)
        server.start()
        say("server", f"Prosody on 127.0.0.1:{server.port} for {server.domain} ({root})")
        agent = None
        try:
            server.register("alice", "alice-password")
            device = f"device1@{server.domain}"
            config = root / "device.toml"
            config.write_text(
                f"""[account]
jid = "{device}"
password = "device-password"
resource = "agent"
register = true

[server]
host = "127.0.0.1"
port = {server.port}
ca_file = "{ca}"

[presence]
status = "demo device, all systems nominal"

[access]
admin = ["alice@{server.domain}"]
"""
            )
            say("demo", f"device config: {config}")
            agent = subprocess.Popen(
                [sys.executable, "-m", "stanzalink", "run", "--config", str(config)],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            online = threading.Event()
            threading.Thread(
                target=pump, args=(agent.stdout, "device", online), daemon=True
            ).start()
            if not online.wait(30):
                say("demo", "the device did not come online within 30 s")
                return 1
            asyncio.run(asyncio.wait_for(controller(server, device, seconds), 90))
            return 0
        except KeyboardInterrupt:
            return 130
        finally:
            if agent is not None:
                agent.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    agent.wait(15)
                if agent.poll() is None:
                    agent.kill()
                say("demo", f"device agent exited with status {agent.wait()}")
            server.stop()
            say("server", "stopped")


if __name__ == "__main__":
    sys.exit(main())
