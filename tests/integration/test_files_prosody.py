"""Jingle file transfer over IBB through a real Prosody on loopback: the
device is a stanzalink Agent, the controller another Agent running the same
modules (Jingle peers), and slixmpp's XEP-0047 plugin the peer for plain IBB."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from stanzalink.agent import Agent
from stanzalink.errors import StanzaError
from stanzalink.xep import hashes
from stanzalink.xep.hashes import Hashes
from stanzalink.xep.ibb import Ibb, IBBStream
from stanzalink.xep.jingle.core import Jingle
from stanzalink.xep.jingle.file_transfer import Files
from stanzalink.xep.jingle.ibb import JingleIBB
from stanzalink.xml.builder import E
from stanzalink_testing.prosody import Prosody

from .peers import device_config, feature_of, new_account, running_agent, slix_client, until

FEATURES = [Ibb, Jingle, JingleIBB, Hashes, Files]


def account(prosody: Prosody, prefix: str) -> str:
    return new_account(prosody, prefix)[0]


def agent(
    prosody: Prosody, jid: str, access: dict[str, list[str]], files: dict[str, Any]
) -> AbstractAsyncContextManager[Agent]:
    password = f"pw-{jid.split('@')[0]}"
    cfg = device_config(prosody, jid, password, access, files={"min_free": 0, **files})
    return running_agent(cfg, FEATURES)


def files_of(a: Agent) -> Files:
    return feature_of(a, Files)


def write(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


@pytest.fixture
def pair(prosody: Prosody, tmp_path: Path) -> dict[str, Any]:
    dev, ctl = account(prosody, "device"), account(prosody, "ctl")
    for d in ("inbox", "export", "ctl-inbox", "ctl-out"):
        (tmp_path / d).mkdir()
    return {
        "dev": dev,
        "ctl": ctl,
        "dev_access": {"operator": [ctl]},
        "dev_files": {"inbox": str(tmp_path / "inbox"), "export": [str(tmp_path / "export")]},
        "ctl_access": {"operator": [dev]},
        "ctl_files": {"inbox": str(tmp_path / "ctl-inbox"), "export": [str(tmp_path / "ctl-out")]},
        "dev_full": f"{dev}/agent",
    }


def test_put_0_1_and_10mib(prosody: Prosody, pair: dict[str, Any], tmp_path: Path) -> None:
    async def main() -> None:
        async with (
            agent(prosody, pair["dev"], pair["dev_access"], pair["dev_files"]) as dev,
            agent(prosody, pair["ctl"], pair["ctl_access"], pair["ctl_files"]) as ctl,
        ):
            for size, name in [(0, "empty.bin"), (1, "one.bin"), (10 << 20, "ten.bin")]:
                src = tmp_path / "ctl-out" / name
                data = write(src, size)
                t0 = time.monotonic()
                res = await asyncio.wait_for(files_of(ctl).offer_file(pair["dev_full"], src), 180)
                took = time.monotonic() - t0
                assert res.ok, res
                assert res.transferred == size
                landed = tmp_path / "inbox" / name
                assert landed.read_bytes() == data
                got = files_of(dev).received_files()[-1]
                assert got.sha256 == hashlib.sha256(data).hexdigest() and got.size == size
                print(f"put {size} bytes over IBB through Prosody in {took:.2f} s")
            assert visible(tmp_path / "inbox") == ["empty.bin", "one.bin", "ten.bin"]
            assert list((tmp_path / "inbox" / ".partial").iterdir()) == []
            assert feature_of(dev, Jingle).sessions() == []

    asyncio.run(main())


def test_get_and_path_traversal(prosody: Prosody, pair: dict[str, Any], tmp_path: Path) -> None:
    export = tmp_path / "export"
    data = write(export / "status.log", 300_000)
    (tmp_path / "secret").write_text("not for you")
    (export / "escape").symlink_to(tmp_path / "secret")

    async def main() -> None:
        async with (
            agent(prosody, pair["dev"], pair["dev_access"], pair["dev_files"]),
            agent(prosody, pair["ctl"], pair["ctl_access"], pair["ctl_files"]) as ctl,
        ):
            dest = tmp_path / "ctl-inbox"
            res = await asyncio.wait_for(
                files_of(ctl).request_file(pair["dev_full"], "status.log", dest), 60
            )
            assert res.ok, res
            assert (dest / "status.log").read_bytes() == data
            for name in ("../secret", "escape", str(tmp_path / "secret"), "nope"):
                res = await asyncio.wait_for(
                    files_of(ctl).request_file(pair["dev_full"], name, dest), 60
                )
                assert not res.ok and res.reason == "failed-application", (name, res)
            assert visible(dest) == ["status.log"]

    asyncio.run(main())


def test_hash_mismatch_never_appears(
    prosody: Prosody, pair: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the controller announces a wrong hash (only the sender hashes files here)
    monkeypatch.setattr(
        hashes, "hash_file", lambda p, a: "x8ae2Lrk+9tV6nVHc2bVmeLv1RHlM1k0fbW3pF5dYy8="
    )

    async def main() -> None:
        async with (
            agent(prosody, pair["dev"], pair["dev_access"], pair["dev_files"]) as dev,
            agent(prosody, pair["ctl"], pair["ctl_access"], pair["ctl_files"]) as ctl,
        ):
            src = tmp_path / "ctl-out" / "bad.bin"
            write(src, 50_000)
            res = await asyncio.wait_for(files_of(ctl).offer_file(pair["dev_full"], src), 60)
            assert not res.ok and res.reason == "media-error"
            assert visible(tmp_path / "inbox") == []
            assert list((tmp_path / "inbox" / ".partial").iterdir()) == []
            assert files_of(dev).received_files() == []

    asyncio.run(main())


def test_stranger_and_viewer_offers_are_refused(
    prosody: Prosody, pair: dict[str, Any], tmp_path: Path
) -> None:
    stranger, viewer = account(prosody, "eve"), account(prosody, "viewer")
    dev_access = {**pair["dev_access"], "viewer": [viewer]}

    async def main() -> None:
        src = tmp_path / "ctl-out" / "x.bin"
        write(src, 1000)
        async with (
            agent(prosody, pair["dev"], dev_access, pair["dev_files"]),
            agent(prosody, stranger, pair["ctl_access"], pair["ctl_files"]) as eve,
            agent(prosody, viewer, pair["ctl_access"], pair["ctl_files"]) as vic,
        ):
            with pytest.raises(StanzaError) as info:
                await asyncio.wait_for(files_of(eve).offer_file(pair["dev_full"], src), 60)
            assert info.value.condition == "service-unavailable"
            res = await asyncio.wait_for(files_of(vic).offer_file(pair["dev_full"], src), 60)
            assert not res.ok and res.reason == "security-error"
            assert visible(tmp_path / "inbox") == []

    asyncio.run(main())


def test_cut_off_mid_transfer_then_resume(
    prosody: Prosody, pair: dict[str, Any], tmp_path: Path
) -> None:
    src = tmp_path / "ctl-out" / "big.bin"
    data = write(src, 3 << 20)
    partial = tmp_path / "inbox" / ".partial"

    def partial_size() -> int:
        return sum(p.stat().st_size for p in partial.glob("*.part")) if partial.exists() else 0

    async def main() -> None:
        async with agent(prosody, pair["dev"], pair["dev_access"], pair["dev_files"]) as dev:
            async with agent(prosody, pair["ctl"], pair["ctl_access"], pair["ctl_files"]) as ctl:
                # directed presence: the server tells the device when it goes
                ctl.client.send(E("{jabber:client}presence", {"to": pair["dev_full"]}))
                sending = asyncio.ensure_future(files_of(ctl).offer_file(pair["dev_full"], src))
                await until(lambda: partial_size() > 256 * 1024, "a part file over 256 KiB", 30)
                await ctl.client.close()  # the controller vanishes, no session-terminate
                sending.cancel()
            jingle = feature_of(dev, Jingle)
            await until(lambda: jingle.sessions() == [], "the Jingle session gone", 30)
            assert visible(tmp_path / "inbox") == []
            have = partial_size()
            assert 0 < have < len(data)
            assert feature_of(dev, Ibb).streams() == []
            # the controller comes back and offers the same file: only the rest moves
            async with agent(prosody, pair["ctl"], pair["ctl_access"], pair["ctl_files"]) as ctl:
                res = await asyncio.wait_for(files_of(ctl).offer_file(pair["dev_full"], src), 120)
            assert res.ok, res
            assert res.transferred == len(data) - have
            assert (tmp_path / "inbox" / "big.bin").read_bytes() == data
            assert partial_size() == 0

    asyncio.run(main())


def test_ibb_with_slixmpp(prosody: Prosody, pair: dict[str, Any]) -> None:
    peer = account(prosody, "slix")
    dev_access = {"operator": [peer]}
    payload = os.urandom(100_000)

    async def main() -> None:
        async with agent(prosody, pair["dev"], dev_access, pair["dev_files"]) as dev:
            ibb = feature_of(dev, Ibb)
            incoming: asyncio.Queue[IBBStream] = asyncio.Queue()
            ibb.listen(lambda stream, role: incoming.put_nowait(stream) is None)
            slix_streams: asyncio.Queue[Any] = asyncio.Queue()
            xmpp = await slix_client(
                prosody,
                peer,
                f"pw-{peer.split('@')[0]}",
                [("xep_0047", {"auto_accept": True})],
                resource="slix",
                setup=lambda x: x.add_event_handler("ibb_stream_start", slix_streams.put_nowait),
            )
            try:
                # slixmpp -> device
                out = await xmpp.plugin["xep_0047"].open_stream(pair["dev_full"], block_size=4096)
                await slix_streams.get()  # its own start event
                stream = await asyncio.wait_for(incoming.get(), 20)

                async def read_all() -> bytes:
                    got = b""
                    while chunk := await asyncio.wait_for(stream.read(), 20):
                        got += chunk
                    return got

                reading = asyncio.ensure_future(read_all())
                await out.sendall(payload)
                await out.close()
                assert await reading == payload
                # device -> slixmpp
                mine = await ibb.open(f"{peer}/slix", block_size=4096)
                theirs = await asyncio.wait_for(slix_streams.get(), 20)
                await mine.write(payload)
                await mine.close()
                assert await asyncio.wait_for(theirs.gather(timeout=30), 40) == payload
            finally:
                xmpp.disconnect()

    asyncio.run(main())
