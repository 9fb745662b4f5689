"""``stanzalink run`` with the default config, logged in to a real Prosody
with its admin in the roster and present, then idle, has not loaded
ElementTree (nor ``_elementtree``, ``pyexpat`` or ElementPath): its
presence, the roster fetch, reconciliation and pushes, the subscription
answers and the disco#info its server asks for are built as plain elements
and read by iterating.  Nor do the questions a chat client asks when it
opens the device's contact (disco#info, software version, entity time,
ping) load it.  (The memory this saves is measured in
``bench/bench_memory.py``.)"""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import slixmpp

from stanzalink_testing.prosody import Prosody

from ..util import python_cmd
from .peers import new_account, slix_client, until

pytestmark = pytest.mark.integration
AGENT_DIR = str(Path(__file__).resolve().parents[2] / "agent")

# `stanzalink run`, with a thread that waits until the device has its admin
# in the roster (subscribed both ways) and the admin's presence and the test
# has asked its questions (the file OUT.asked), lets it idle a second,
# writes the modules loaded and stops the agent as a service manager would
# (SIGTERM)
RUN = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    from stanzalink import agent as agent_module
    from stanzalink.jid import JID

    made = []
    init = agent_module.Agent.__init__
    def remember(self, *args, **kw):
        init(self, *args, **kw)
        made.append(self)
    agent_module.Agent.__init__ = remember
    config, admin, out = sys.argv[1], JID.parse(sys.argv[2]), sys.argv[3]

    def ready():
        if not made:
            return False
        from stanzalink.xep.roster import Roster
        roster = next(f for f in made[0].features() if isinstance(f, Roster))
        item = roster.items.get(admin)
        online = [j for j in roster.online_controllers() if j.bare == admin]
        return roster.synced and item is not None and item.subscription == "both" and online

    def watch():
        deadline = time.monotonic() + 60
        while not (ready() and os.path.exists(out + ".asked")):
            if time.monotonic() > deadline:
                open(out, "w").write("TIMEOUT")
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.05)
        time.sleep(1)
        open(out, "w").write(" ".join(sorted(sys.modules)))
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True).start()
    from stanzalink.cli import main
    sys.exit(main(["run", "--config", config]))
    """
)

NOT_LOADED = ["xml.etree.ElementTree", "_elementtree", "pyexpat", "xml.etree.ElementPath"]


async def _run_idle(
    config: Path, admin: str, out: Path, ask: Callable[[], Awaitable[None]] | None = None
) -> set[str]:
    """The modules `stanzalink run` has loaded once idle with its admin (and
    once ``ask()``, if given, has had its answers)."""
    proc = await asyncio.create_subprocess_exec(
        *python_cmd(),
        "-c",
        RUN,
        str(config),
        admin,
        str(out),
        env={**os.environ, "PYTHONPATH": AGENT_DIR},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    if ask is not None:
        await ask()
    Path(f"{out}.asked").touch()
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()[-3000:]
    loaded = out.read_text()
    assert loaded != "TIMEOUT", err.decode()[-3000:]
    return set(loaded.split())


async def test_the_default_agent_idle_with_its_admin_has_not_loaded_elementtree(
    prosody: Prosody, tmp_path: Path
) -> None:
    device, device_pw = new_account(prosody, "leandev")
    admin, admin_pw = new_account(prosody, "leanadmin")
    config = tmp_path / "device.toml"
    config.write_text(
        f'[account]\njid = "{device}"\npassword = "{device_pw}"\n'
        f'[server]\nhost = "127.0.0.1"\nport = {prosody.port}\nca_file = "{prosody.ca}"\n'
        f'[access]\nadmin = ["{admin}"]\n'
    )

    def setup(xmpp: slixmpp.ClientXMPP) -> None:
        xmpp.auto_authorize = True  # approves the device's request and asks back
        xmpp.auto_subscribe = True

    async def on_start(xmpp: slixmpp.ClientXMPP) -> None:
        await xmpp.get_roster()
        xmpp.send_presence()

    ctl = await slix_client(
        prosody,
        admin,
        admin_pw,
        plugins=["xep_0030", "xep_0092", "xep_0199", "xep_0202"],
        setup=setup,
        on_start=on_start,
    )

    async def ask() -> None:
        # what a chat client asks when it opens the device's contact
        await until(lambda: ctl.client_roster.presence(device), "the device's presence")
        full = next(iter(ctl.client_roster.presence(device)))
        to = f"{device}/{full}"
        info = await ctl.plugin["xep_0030"].get_info(jid=to, timeout=10)
        assert "jabber:iq:version" in info["disco_info"]["features"]
        version = await ctl.plugin["xep_0092"].get_version(to, timeout=10)
        assert version["software_version"]["name"] == "stanzalink"
        when = await ctl.plugin["xep_0202"].get_entity_time(to, timeout=10)
        utc = when.xml.findtext("{urn:xmpp:time}time/{urn:xmpp:time}utc")
        assert utc and utc.endswith("Z")  # (slixmpp's own getter adds a second Z)
        await ctl.plugin["xep_0199"].ping(to, timeout=10)

    try:
        # first login: the device adds its admin, the subscriptions become
        # mutual through roster pushes and presence, the admin's presence comes
        first = await _run_idle(config, admin, tmp_path / "first.txt")
        assert "stanzalink.xep.roster" in first  # it did run
        assert sorted(set(NOT_LOADED) & first) == []

        def mutual() -> Any:
            return ctl.client_roster[device]["subscription"] == "both"

        await until(mutual, "the admin's subscription to the device")
        # next login: the roster result holds the admin, presence is exchanged
        # at once, and the admin asks what a chat client asks
        again = await _run_idle(config, admin, tmp_path / "again.txt", ask)
        assert {"stanzalink.xep.version", "stanzalink.xep.time"} <= again  # it answered
        assert sorted(set(NOT_LOADED) & again) == []
    finally:
        ctl.disconnect()
    assert "xml.etree.ElementTree" in sys.modules  # (this process has it: slixmpp)
