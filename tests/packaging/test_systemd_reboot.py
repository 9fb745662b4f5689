"""The console's default reboot_command, `systemctl reboot`, run by the
user stanzalink inside packaging/stanzalink.service's sandbox, under a real
systemd with its own D-Bus, systemd-logind and polkitd (in a namespace, as
in test_systemd_supervision.py): with packaging/10-stanzalink.rules logind
accepts it and starts reboot.target (here a target that records it was
reached), without the rule it is refused."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import test_systemd_supervision as nested
from .test_systemd_supervision import INSIDE, NestedSystemd, unavailable

ROOT = Path(__file__).resolve().parents[2]
UNITS = Path("/lib/systemd/system")
AGENT_UID = 64990  # the user stanzalink inside the namespace (a uid the host does not use)

pytestmark = nested.pytestmark

# the agent's unit as shipped (user, sandbox), running what "reboot" runs
DROPIN = f"""[Unit]
DefaultDependencies=no
After=dbus.socket polkit.service systemd-logind.service

[Service]
Type=oneshot
ExecStartPre=
ExecStart=
ExecStart=/bin/systemctl reboot
WatchdogSec=0
Restart=no
# /etc is the host's
ConfigurationDirectory=
StandardOutput=append:{INSIDE}/agent.log
StandardError=append:{INSIDE}/agent.log
"""

# reboot.target as logind starts it, recording that it was reached instead
# of rebooting anything
REBOOT_TARGET = """[Unit]
DefaultDependencies=no
Wants=reboot-probe.service
"""
REBOOT_PROBE = f"""[Unit]
DefaultDependencies=no

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo reboot.target >> {INSIDE}/results'
"""

BOOT_TOO = f"""mount --bind {INSIDE}/passwd /etc/passwd
mount --bind {INSIDE}/group /etc/group
mount --bind {INSIDE}/rules /etc/polkit-1/rules.d"""

SERVICES = ("dbus.socket", "dbus.service", "polkit.service", "systemd-logind.service")


def standalone(name: str) -> str:
    """A unit of the host's, without the dependencies of a boot."""
    text = (UNITS / name).read_text()
    return re.sub(r"^\[Unit\]$", "[Unit]\nDefaultDependencies=no", text, count=1, flags=re.M)


def boot(folder: Path, with_rule: bool) -> NestedSystemd:
    for name in (*SERVICES, "reboot.target"):
        if not (UNITS / name).exists():
            unavailable(f"no {name} (scripts/bootstrap.sh installs systemd, dbus and polkitd)")
    folder.chmod(0o755)
    rules = folder / "rules"
    rules.mkdir()
    rules.chmod(0o755)
    if with_rule:
        (rules / "10-stanzalink.rules").write_text(
            (ROOT / "packaging/10-stanzalink.rules").read_text()
        )
        (rules / "10-stanzalink.rules").chmod(0o644)
    passwd = Path("/etc/passwd").read_text()
    (folder / "passwd").write_text(
        passwd + f"stanzalink:x:{AGENT_UID}:{AGENT_UID}::/nonexistent:/usr/sbin/nologin\n"
    )
    (folder / "group").write_text(Path("/etc/group").read_text() + f"stanzalink:x:{AGENT_UID}:\n")
    units = {name: standalone(name) for name in SERVICES}
    units["reboot.target"] = REBOOT_TARGET
    units["reboot-probe.service"] = REBOOT_PROBE
    return NestedSystemd(folder, dropin=DROPIN, units_too=units, boot_too=BOOT_TOO)


@pytest.fixture(params=[True, False], ids=["with-rule", "without-rule"])
def systemd(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[NestedSystemd, bool]]:
    if nested.SYSTEMD is None or not shutil.which("unshare") or not shutil.which("nsenter"):
        unavailable("needs systemd, unshare and nsenter")
    manager = boot(tmp_path, request.param)
    try:
        yield manager, request.param
    finally:
        manager.close()


def test_systemctl_reboot_as_the_agent(systemd: tuple[NestedSystemd, bool]) -> None:
    manager, with_rule = systemd
    started = manager.ctl("start", *SERVICES, check=False)
    assert started.returncode == 0, started.stderr + manager.logs()
    user = manager.ctl("show", "-p", "User", "stanzalink.service").stdout.strip()
    assert user == "User=stanzalink"
    ran = manager.ctl("start", "stanzalink.service", check=False)
    log = (manager.folder / "agent.log").read_text()
    if with_rule:
        assert ran.returncode == 0, ran.stderr + log + manager.logs()
        deadline = time.monotonic() + 15
        while "reboot.target" not in manager.results() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert manager.results() == ["reboot.target"], log + manager.logs()
    else:
        assert ran.returncode != 0
        assert "Access denied" in log or "Interactive authentication required" in log, log
        time.sleep(2)
        assert manager.results() == []
