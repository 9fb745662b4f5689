"""Files through the console over a real Prosody: the device Agent runs the
real feature list (agent.FEATURES); a controller Agent with the Jingle file
transfer features types ``get /path/to/exported.log`` in a chat message and
receives the file into its own inbox; a viewer (a plain stanzalink Client)
is refused a path outside the exports and gets nothing."""

from __future__ import annotations

import asyncio
import hashlib
import os
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from stanzalink.agent import Agent
from stanzalink.aio.client import Client
from stanzalink.commands.system import human_bytes
from stanzalink.console.feature import Console
from stanzalink.xep.disco import Disco
from stanzalink.xep.hashes import Hashes
from stanzalink.xep.ibb import Ibb
from stanzalink.xep.jingle.core import Jingle
from stanzalink.xep.jingle.file_transfer import Files
from stanzalink.xep.jingle.ibb import JingleIBB
from stanzalink.xml import Element
from stanzalink.xml.builder import E, sub
from stanzalink_testing.prosody import Prosody

from .peers import client_config, device_config, feature_of, new_account, running_agent

CONTROLLER_FEATURES = [Disco, Ibb, Jingle, JingleIBB, Hashes, Files]


def account(prosody: Prosody, prefix: str) -> str:
    return new_account(prosody, prefix)[0]


def agent(
    prosody: Prosody,
    jid: str,
    features: list[type[Any]] | None,
    access: dict[str, list[str]],
    **sections: dict[str, Any],
) -> AbstractAsyncContextManager[Agent]:
    cfg = device_config(prosody, jid, f"pw-{jid.split('@')[0]}", access, **sections)
    return running_agent(cfg, features)


def chat(to: str, text: str) -> Any:
    msg = E("{jabber:client}message", {"to": to, "type": "chat"})
    sub(msg, "{jabber:client}body", text=text)
    return msg


async def body(q: asyncio.Queue[Element], timeout: float = 30) -> str:
    while True:
        msg = await asyncio.wait_for(q.get(), timeout)
        text = msg.findtext("{jabber:client}body")
        if text:
            return text


def test_get_over_prosody(prosody: Prosody, tmp_path: Path) -> None:
    dev, ctl, viewer = account(prosody, "fdev"), account(prosody, "fctl"), account(prosody, "fview")
    for d in ("export/logs", "inbox", "ctl-inbox", "ctl-out"):
        (tmp_path / d).mkdir(parents=True)
    log = tmp_path / "export" / "logs" / "exported.log"
    data = b"".join(f"{i:06d} INFO line of the device log\n".encode() for i in range(20000))
    log.write_bytes(data + os.urandom(1000))
    data = log.read_bytes()
    (tmp_path / "private.key").write_text("secret\n")
    dev_full = f"{dev}/agent"

    async def main() -> None:
        async with (
            agent(
                prosody,
                dev,
                None,  # the real feature list
                access={"operator": [ctl], "viewer": [viewer]},
                files={
                    "inbox": str(tmp_path / "inbox"),
                    "export": [str(tmp_path / "export")],
                    "min_free": 0,
                },
            ) as device,
            agent(
                prosody,
                ctl,
                CONTROLLER_FEATURES,
                access={"operator": [dev]},
                files={"inbox": str(tmp_path / "ctl-inbox"), "min_free": 0},
            ) as controller,
        ):
            assert device.feature(Console) is not None and device.feature(Files) is not None
            got: asyncio.Queue[Element] = asyncio.Queue()
            controller.client.on_message(got.put_nowait)
            controller.client.send(chat(dev_full, f"get {log}"))
            assert "You are operator" in await body(got)  # first contact: the banner
            assert await body(got) == (
                f"sending exported.log ({len(data)} bytes, {human_bytes(len(data))})"
            )
            while (done := await body(got, 120)).startswith("exported.log: "):
                pass  # progress lines
            sha = hashlib.sha256(data).hexdigest()
            assert done.startswith(f"sent exported.log ({len(data)} bytes, sha-256 {sha[:16]}…)")
            landed = tmp_path / "ctl-inbox" / "exported.log"
            assert landed.read_bytes() == data
            received = feature_of(controller, Files).received_files()
            assert received[-1].peer == dev_full and received[-1].sha256 == sha
            controller.client.send(chat(dev_full, "ls logs"))
            assert f"{log}" in await body(got)

            # a viewer asks for a file outside the exports: refused, nothing sent
            vc = Client(
                client_config(prosody, viewer, f"pw-{viewer.split('@')[0]}", resource="phone")
            )
            vgot: asyncio.Queue[Element] = asyncio.Queue()
            vc.on_message(vgot.put_nowait)
            await vc.start()
            try:
                await vc.wait_online(30)
                for path in (tmp_path / "private.key", f"{tmp_path}/export/../private.key"):
                    vc.send(chat(dev_full, f"get {path}"))
                    text = await body(vgot)
                    if "You are viewer" in text:
                        text = await body(vgot)
                    assert text == f"{path}: not exported (send ls for what may be fetched)"
                vc.send(chat(dev_full, "inbox"))  # role_put is operator
                assert await body(vgot) == "inbox: needs role operator (you are viewer)"
            finally:
                await vc.close()
            assert feature_of(device, Jingle).sessions() == []

    asyncio.run(main())
