"""``stanzalink http`` says why a device refused, through a real Prosody:
a viewer on a path that ``[http] paths`` gives a higher role is told it was
that rule, a stranger to check ``[access]`` (and that the device is
online), a controller of a device without ``[http] origin`` that it serves
no HTTP.  The device answers all three alike (``service-unavailable``):
the command tells them apart by the device's disco#info, which it answers
everyone in its ``[access]``."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from stanzalink_testing.prosody import Prosody
from tests.xep.origin import Origin

from ..util import python_cmd
from .peers import device_config, running_agent
from .test_http_prosody import ROOT, accounts, config_toml, device_agent
from .test_http_prosody import origin as origin  # the fixture


def cli(toml: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*python_cmd(), "-m", "stanzalink", "http", "--config", str(toml), *args],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
    )  # fmt: skip


def test_the_refusal_says_which_rule(prosody: Prosody, origin: Origin, tmp_path: Path) -> None:
    device, ctl, viewer, eve = accounts(prosody, "httpdev", "ctl", "viewer", "eve")
    tomls = {}
    for jid, pw in ((viewer, "viewer-pw"), (eve, "eve-pw"), (ctl, "ctl-pw")):
        tomls[jid] = tmp_path / f"{jid.split('@')[0]}.toml"
        tomls[jid].write_text(config_toml(prosody, jid, pw))
    target = device + "/agent"

    async def main() -> None:
        async with device_agent(prosody, device, origin, ctl, viewer):
            res = await asyncio.to_thread(cli, tomls[viewer], target, "GET", "/api/x")
            assert res.returncode == 0, res.stderr  # the viewer's own path
            res = await asyncio.to_thread(cli, tomls[viewer], target, "GET", "/admin/users")
            assert res.returncode == 1 and res.stdout == ""
            assert res.stderr == (
                f"stanzalink http: {target} refused the request: service-unavailable (refused "
                f"by the device's [http] paths: /admin/users needs a higher role than {viewer} has "
                "in its [access]; paths no rule names need operator)\n"
            ), res.stderr
            res = await asyncio.to_thread(cli, tomls[eve], target, "GET", "/admin/users")
            assert res.returncode == 1
            assert res.stderr.endswith(
                f"(is the device online as {target}, and is {eve} in its [access]?)\n"
            ), res.stderr
        # a device whose HTTP service is off
        cfg = device_config(prosody, device, "device-pw", {"admin": [ctl]})
        async with running_agent(cfg, None, stop_timeout=20):
            res = await asyncio.to_thread(cli, tomls[ctl], target, "GET", "/api/x")
            assert res.returncode == 1
            assert res.stderr.endswith(
                "(the device serves no HTTP: its [http] origin is not set)\n"
            ), res.stderr

    asyncio.run(asyncio.wait_for(main(), 150))
