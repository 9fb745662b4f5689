"""Jingle file transfer over SOCKS5 (XEP-0260) through a real Prosody's
mod_proxy65 on loopback, and its fallback to IBB: the device and the
controller are stanzalink Agents with ``[files] socks5 = true``; each finds
the proxy by disco when it comes online."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from stanzalink.agent import Agent
from stanzalink.xep.bytestreams import StreamHost
from stanzalink.xep.hashes import Hashes
from stanzalink.xep.ibb import Ibb
from stanzalink.xep.jingle.core import Jingle
from stanzalink.xep.jingle.file_transfer import Files
from stanzalink.xep.jingle.ibb import JingleIBB
from stanzalink.xep.jingle.s5b_transport import JingleS5B
from stanzalink_testing.prosody import Prosody, free_port

from .conftest import PROXY65
from .peers import device_config, feature_of, running_agent, until

FEATURES = [Ibb, Jingle, JingleS5B, JingleIBB, Hashes, Files]
MIB = 1 << 20
_n = itertools.count(1)


@asynccontextmanager
async def agent(p: Prosody, user: str, peer: str, folder: Path) -> AsyncIterator[Agent]:
    p.register(user, f"pw-{user}")
    for d in ("inbox", "export"):
        (folder / d).mkdir(parents=True, exist_ok=True)
    files = {"min_free": 0, "inbox": str(folder / "inbox"),
             "export": [str(folder / "export")], "socks5": True}  # fmt: skip
    access = {"operator": [f"{peer}@{p.domain}"]}
    cfg = device_config(p, f"{user}@{p.domain}", f"pw-{user}", access, files=files)
    async with running_agent(cfg, FEATURES) as a:
        s5b = s5b_of(a)
        await until(lambda: s5b.proxies is not None, "the proxy discovery", 20)
        yield a


def s5b_of(a: Agent) -> JingleS5B:
    return feature_of(a, JingleS5B)


def files_of(a: Agent) -> Files:
    return feature_of(a, Files)


@asynccontextmanager
async def pair(p: Prosody, tmp: Path) -> AsyncIterator[tuple[Agent, Agent]]:
    n = next(_n)
    dev, ctl = f"s5bdev{n}", f"s5bctl{n}"
    async with (
        agent(p, dev, ctl, tmp / "dev") as d,
        agent(p, ctl, dev, tmp / "ctl") as c,
    ):
        yield d, c


def test_put_and_get_10_mib_through_proxy65(
    prosody_proxy65: tuple[Prosody, int], tmp_path: Path
) -> None:
    p, port = prosody_proxy65

    async def main() -> None:
        async with pair(p, tmp_path) as (dev, ctl):
            for a in (dev, ctl):  # found by disco#items / #info / the streamhost query
                assert s5b_of(a).proxies == [StreamHost(PROXY65, "127.0.0.1", port)]
            # put: controller -> device
            data = os.urandom(10 * MIB)
            src = tmp_path / "ctl" / "export" / "ten.bin"
            src.write_bytes(data)
            t0 = time.monotonic()
            res = await asyncio.wait_for(files_of(ctl).offer_file(str(dev.jid), src), 120)
            took = time.monotonic() - t0
            assert res.ok, res
            assert (tmp_path / "dev" / "inbox" / "ten.bin").read_bytes() == data
            got = files_of(dev).received_files()[-1]
            assert got.sha256 == hashlib.sha256(data).hexdigest() and got.size == len(data)
            assert (s5b_of(ctl).established, s5b_of(dev).established) == (1, 1)
            assert (s5b_of(ctl).failed, s5b_of(dev).failed) == (0, 0)
            print(f"put 10 MiB over SOCKS5 through proxy65 in {took:.2f} s")
            # get: device -> controller (the controller initiates, the device sends)
            log = os.urandom(10 * MIB + 123)
            (tmp_path / "dev" / "export" / "big.log").write_bytes(log)
            dest = tmp_path / "ctl" / "got"
            dest.mkdir()
            t0 = time.monotonic()
            res = await asyncio.wait_for(
                files_of(ctl).request_file(str(dev.jid), "big.log", dest), 120
            )
            took = time.monotonic() - t0
            assert res.ok, res
            assert res.sha256 == hashlib.sha256(log).hexdigest()
            assert (dest / "big.log").read_bytes() == log
            assert (s5b_of(ctl).established, s5b_of(dev).established) == (2, 2)
            print(f"got 10 MiB over SOCKS5 through proxy65 in {took:.2f} s")

    asyncio.run(main())


def test_unusable_proxy_falls_back_to_ibb(
    prosody_proxy65: tuple[Prosody, int], tmp_path: Path
) -> None:
    """The proxy's port blocked (both sides are told a port nobody listens
    on): candidate-error both ways, the initiator replaces the transport by
    IBB, and the file still arrives, hash checked."""
    p, _port = prosody_proxy65

    async def main() -> None:
        async with pair(p, tmp_path) as (dev, ctl):
            blocked = [StreamHost(PROXY65, "127.0.0.1", free_port())]
            s5b_of(dev).proxies = list(blocked)
            s5b_of(ctl).proxies = list(blocked)
            data = os.urandom(MIB // 2)
            src = tmp_path / "ctl" / "export" / "half.bin"
            src.write_bytes(data)
            res = await asyncio.wait_for(files_of(ctl).offer_file(str(dev.jid), src), 120)
            assert res.ok, res
            assert (tmp_path / "dev" / "inbox" / "half.bin").read_bytes() == data
            assert files_of(dev).received_files()[-1].sha256 == hashlib.sha256(data).hexdigest()
            # the initiator's negotiation fails; the responder's may fail too,
            # or be released by the transport-replace first (timing)
            assert s5b_of(ctl).failed == 1 and s5b_of(dev).failed in (0, 1)
            assert (s5b_of(ctl).established, s5b_of(dev).established) == (0, 0)
            before = s5b_of(ctl).failed + s5b_of(dev).failed
            # and a get the other way, the device's side initiated by the controller
            (tmp_path / "dev" / "export" / "s.log").write_bytes(data[:100_000])
            dest = tmp_path / "ctl" / "got"
            dest.mkdir()
            res = await asyncio.wait_for(
                files_of(ctl).request_file(str(dev.jid), "s.log", dest), 120
            )
            assert res.ok and (dest / "s.log").read_bytes() == data[:100_000]
            assert 1 <= s5b_of(ctl).failed + s5b_of(dev).failed - before <= 2
            assert (s5b_of(ctl).established, s5b_of(dev).established) == (0, 0)

    asyncio.run(main())
