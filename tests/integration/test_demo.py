"""The README's main job runs end to end: every step of the transcript
happens, in a bounded time, and the demo cleans up after itself."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"


def test_demo_runs() -> None:
    started = time.monotonic()
    res = subprocess.run(
        [sys.executable, str(DEMO), "0.5"], capture_output=True, timeout=120, check=False
    )
    took = time.monotonic() - started
    out = res.stdout.decode()
    assert res.returncode == 0, out + res.stderr.decode()
    lines = out.splitlines()
    # every line says who speaks
    assert all(re.match(r"\[[a-z ]{10}\] ", ln) for ln in lines), out
    # the device registers, logs in, comes online and stores its vCard
    assert "[device    ] registered account device1 in-band" in lines
    assert "[device    ] online as device1@stanzalink.test/agent" in lines
    assert "[device    ] published the device's vCard to the server" in lines
    # alice is approved; the presence carries status, verified caps, the avatar hash
    assert any(ln.startswith("[controller] subscription both: the device approved") for ln in lines)
    assert "'pump station 7: all systems nominal'" in out
    assert "(slixmpp checked the hash)" in out
    assert re.search(r"avatar [0-9a-f]{40} \(SHA-1 of avatar.png\)", out)
    # identity queries
    assert "[controller] disco#info: client/bot 'Pump station 7'" in out
    assert "[controller] version: stanzalink " in out
    assert re.search(r"\[controller\] time: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", out)
    assert (
        "[controller] vCard from the server (anyone may read it): Pump station 7, with photo"
        in lines
    )
    assert (
        "[controller] vCard from the device: Pump station 7, Acme PS-200, "
        "Serial number: PS-000042" in lines
    )
    # the console: greeting, help, status, reboot asked and declined
    assert "You are admin. Send `help` for the commands." in out
    assert "[controller]     *Commands for role admin*" in lines
    assert "[controller]     *status*" in lines
    assert re.search(r"\] {5}uptime: \d", out)
    assert "[controller]     *Reboot the device now?* Answer `yes` or `no` (within 60 s)." in lines
    assert "[controller]     Not confirmed: reboot was not run." in lines
    # ad-hoc: the list, a form, its result from the log file
    assert re.search(r"\[controller\] ad-hoc commands: .*\blog\b.*\bstatus\b", out)
    assert "'log' asks: 'the last lines of the device log': lines (text-single, 20)" in out
    assert (
        "[controller]     2026-12-01T09:12:44Z WARNING pump: pressure 2.9 bar, above 2.8" in lines
    )
    # HTTP over XMPP reached the origin with the requester's JID and role, and came back
    assert "[web api   ] GET /api/status for alice@stanzalink.test/laptop (role admin)" in lines
    assert "[controller]   HTTP 200 OK, application/json" in lines
    assert '"pump": "running"' in out
    # the stranger is refused, logged, and gets no answer
    assert "[stranger  ] the device refused: unsubscribed" in lines
    assert (
        "[device    ] WARNING denied presence subscription to mallory@stanzalink.test: "
        "not a controller" in lines
    )
    assert (
        "[device    ] WARNING denied message to mallory@stanzalink.test/phone: "
        "not a controller" in lines
    )
    assert "[stranger  ] no answer (after 1 s)" in lines
    # clean end
    assert "[demo      ] device agent exited with status 0" in lines
    assert "[server    ] stopped" in lines
    assert re.fullmatch(
        r"\[demo      \] passed: \d+ steps in [\d.]+ s; temp dir removed", lines[-1]
    ), lines[-1]
    assert "Traceback" not in out + res.stderr.decode()
    assert len(lines) <= 80, f"the transcript grew to {len(lines)} lines"
    assert took < 60, f"the demo took {took:.1f} s"
