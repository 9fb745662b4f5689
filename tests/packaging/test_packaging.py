"""Structural checks of the Yocto layer, the Buildroot tree and the service
files: what they name must exist, and the rules of each build system hold."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from stanzalink.agent import parse_config, schema
from stanzalink.aio.sdnotify import Notifier
from stanzalink.session import KEEPALIVE

from ..test_config import _keys_in

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes/recipes-connectivity/python3-stanzalink/python3-stanzalink_git.bb"
BR = ROOT / "buildroot"


def test_layer_conf() -> None:
    conf = (ROOT / "recipes/conf/layer.conf").read_text()
    compat = re.search(r'LAYERSERIES_COMPAT_stanzalink\s*=\s*"([^"]*)"', conf)
    assert compat and set(compat.group(1).split()) == {"scarthgap", "wrynose"}
    assert re.search(r'LAYERDEPENDS_stanzalink\s*=\s*"core"', conf)


def test_recipe_rules() -> None:
    bb = RECIPE.read_text()
    inherits = set(re.search(r"^inherit (.*)$", bb, re.M).group(1).split())  # type: ignore[union-attr]
    assert {"python_setuptools_build_meta", "ptest", "systemd"} <= inherits
    assert 'DEPENDS += "python3-cffi-native"' in bb
    assert not re.search(r"^S\s*=", bb, re.M), (
        "S must not be assigned (scarthgap and whinlatter on)"
    )
    assert "destsuffix=${BP}" in bb
    rdepends = re.search(r'RDEPENDS:\$\{PN\} \+= "\\\n(.*?)"', bb, re.S).group(1).split()  # type: ignore[union-attr]
    for pkg in ("python3-cffi", "python3-xml", "python3-asyncio", "python3-logging"):
        assert pkg in rdepends
    assert 'CONFFILES:${PN} = "${sysconfdir}/stanzalink/device.toml"' in bb


def test_recipe_license_checksum_matches() -> None:
    md5 = re.search(r"LIC_FILES_CHKSUM = \"file://LICENSE;md5=([0-9a-f]+)\"", RECIPE.read_text())
    assert md5 and md5.group(1) == hashlib.md5((ROOT / "LICENSE").read_bytes()).hexdigest()


def test_everything_the_recipe_installs_exists() -> None:
    bb = RECIPE.read_text()
    paths = set(re.findall(r"\$\{S\}/([\w./-]+)", bb))
    assert paths, "the recipe installs files from the source tree"
    for rel in paths:
        assert (ROOT / rel.rstrip("*").rstrip("/")).exists(), rel
    run_ptest = RECIPE.parent / "files" / "run-ptest"
    assert run_ptest.exists() and os.access(run_ptest, os.X_OK)


def test_buildroot_tree() -> None:
    assert re.search(r"^name: STANZALINK$", (BR / "external.desc").read_text(), re.M)
    assert "package/python-stanzalink/Config.in" in (BR / "Config.in").read_text()
    cfg = (BR / "package/python-stanzalink/Config.in").read_text()
    for sel in (
        "BR2_PACKAGE_PYTHON_CFFI # runtime",
        "BR2_PACKAGE_PYTHON3_PYEXPAT",
        "BR2_PACKAGE_PYTHON3_SSL",
    ):
        assert f"select {sel}" in cfg
    mk = (BR / "package/python-stanzalink/python-stanzalink.mk").read_text()
    assert re.search(r"^PYTHON_STANZALINK_SETUP_TYPE = pep517$", mk, re.M)
    deps = re.search(r"^PYTHON_STANZALINK_DEPENDENCIES = (.*)$", mk, re.M).group(1).split()  # type: ignore[union-attr]
    assert "host-python-cffi" in deps
    assert "$(eval $(python-package))" in mk
    for rel in re.findall(r"\$\(@D\)/([\w./-]+)", mk):
        assert (ROOT / rel).exists(), rel
    for hook in ("INSTALL_INIT_SYSTEMD", "INSTALL_INIT_SYSV"):
        assert f"define PYTHON_STANZALINK_{hook}" in mk


def test_buildroot_hash_matches_license() -> None:
    text = (BR / "package/python-stanzalink/python-stanzalink.hash").read_text()
    digest = re.search(r"^sha256\s+([0-9a-f]{64})\s+LICENSE$", text, re.M)
    assert digest and digest.group(1) == hashlib.sha256((ROOT / "LICENSE").read_bytes()).hexdigest()
    defconfig = (BR / "configs/stanzalink_qemu_aarch64_virt_defconfig").read_text()
    assert "BR2_PACKAGE_PYTHON_STANZALINK=y" in defconfig


UNIT_KEYS = {
    "User": "stanzalink",
    "ProtectSystem": "strict",
    "NoNewPrivileges": "yes",
    "PrivateTmp": "yes",
    "StateDirectory": "stanzalink",
    "LogsDirectory": "stanzalink",  # audit_log under ProtectSystem=strict
    "Restart": "on-failure",
    # the agent speaks the notify protocol: READY=1, WATCHDOG=1 from its loop
    "Type": "notify",
    "NotifyAccess": "main",
}


def test_systemd_unit() -> None:
    unit = (ROOT / "packaging/stanzalink.service").read_text()
    for key, value in UNIT_KEYS.items():
        assert re.search(rf"^{key}={re.escape(value)}$", unit, re.M), key
    assert re.search(
        r"^ExecStart=/usr/bin/stanzalink run --config /etc/stanzalink/device.toml$", unit, re.M
    )
    # restarts never stop (a device that gave up would stay offline), spaced out
    assert re.search(r"^StartLimitIntervalSec=0$", unit, re.M)
    assert re.search(r"^RestartSec=\d+s$", unit, re.M)
    watchdog = re.search(r"^WatchdogSec=(\d+)s$", unit, re.M)
    assert watchdog
    # the pings ride the default keepalive's wake-ups (no timer of the
    # watchdog's own fires on an idle agent), and a wedged agent is
    # restarted within twice the keepalive
    notifier = Notifier("/run/notify", int(watchdog.group(1)) * 1_000_000)
    notifier.ride(KEEPALIVE)
    assert notifier.riding
    assert int(watchdog.group(1)) <= 2 * KEEPALIVE
    assert "StandardOutput=journal" in unit


def test_default_config_is_valid(tmp_path: Path) -> None:
    raw = tomllib.loads((ROOT / "packaging/device.toml").read_text())
    pw = tmp_path / "password"
    pw.write_text("secret\n")
    raw["account"]["password_file"] = str(pw)
    # the image's files live in the state directory systemd creates
    assert raw["account"]["scram_keys_file"].startswith("/var/lib/stanzalink/")
    assert raw["files"]["inbox"].startswith("/var/lib/stanzalink/")
    raw["account"]["scram_keys_file"] = str(tmp_path / "scram.json")
    cfg = parse_config(raw)
    server = cfg.section("server")
    assert server["require_tls"] and server["verify_tls"]
    assert not cfg.section("console")["shell"]


@pytest.mark.parametrize("script", ["packaging/S90stanzalink"])
def test_sysv_script(script: str) -> None:
    path = ROOT / script
    assert os.access(path, os.X_OK)
    text = path.read_text()
    assert "start-stop-daemon" in text and "check-config" in text


def test_the_agent_user_can_read_its_config() -> None:
    # the unit and the SysV script run the agent as stanzalink; the config is
    # installed 0640, so its group must be stanzalink in both build systems
    assert "chown root:stanzalink ${D}${sysconfdir}/stanzalink/device.toml" in RECIPE.read_text()
    mk = (BR / "package/python-stanzalink/python-stanzalink.mk").read_text()
    assert re.search(r"^\s*/etc/stanzalink/device.toml f 0640 root stanzalink", mk, re.M)
    assert "define PYTHON_STANZALINK_PERMISSIONS" in mk


def test_pyproject_builds_with_the_oldest_supported_setuptools() -> None:
    # scarthgap's python3-setuptools is 69.1.1: no SPDX license strings
    # (setuptools 77), no license-files; the build requirement must allow it
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert isinstance(project["project"]["license"], dict)
    assert "license-files" not in project["project"]
    req = next(r for r in project["build-system"]["requires"] if r.startswith("setuptools"))
    low = re.search(r">=\s*(\d+)", req)
    assert low and int(low.group(1)) <= 69


def test_packaged_config_uses_only_known_keys() -> None:
    text = (ROOT / "packaging" / "device.toml").read_text()
    known = {f"{s}.{k}" for s, sec in schema().items() for k in sec.keys}
    assert _keys_in(text) - known == set()
    assert {s for s in schema() if f"[{s}]" in text} == set(schema()), "a section is not shown"


def test_run_ptest_reports_only_pytest_summary_lines(tmp_path: Path) -> None:
    # run-ptest with pytest's -rA summary replaced by a sample: captured log
    # lines that start with ERROR must not become FAIL lines
    script = (RECIPE.parent / "files" / "run-ptest").read_text()
    sample = tmp_path / "summary.txt"
    sample.write_text(
        "PASSED tests/a.py::test_x\n"
        "ERROR    asyncio:base_events.py:1771 Exception in callback\n"
        "FAILED tests/b.py::test_y[1] - AssertionError: x\n"
        "ERROR tests/c.py - ModuleNotFoundError\n"
        "SKIPPED [1] tests/aio/test_dns.py:28: could not import 'dnslib'\n"
    )
    start, end = script.index("pytest -o"), script.index("sed -n")
    fake = tmp_path / "run-ptest"
    fake.write_text(script[:start] + f"cat {sample} | " + script[end:])
    res = subprocess.run(["sh", str(fake)], capture_output=True, text=True, check=True, timeout=30)
    assert res.stdout.splitlines() == [
        "PASS: tests/a.py::test_x",
        "FAIL: tests/b.py::test_y[1]",
        "FAIL: tests/c.py",
        "SKIP: tests/aio/test_dns.py (could not import 'dnslib')",
    ]


FAKE_AGENT = """#!/bin/sh
# check-config passes; the first run exits 75 (the console's restart), the
# second runs until SIGTERM and then exits 0, like the agent
[ "$1" = check-config ] && exit 0
echo "$*" > "{runs}.args"
echo run >> "{runs}"
[ "$(wc -l < "{runs}")" -eq 1 ] && exit 75
trap 'echo stopped >> "{runs}"; exit 0' TERM
while :; do sleep 0.1; done
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("start-stop-daemon") is None,
    reason="needs root and start-stop-daemon",
)
def test_sysv_script_restarts_the_agent_and_stops_it(tmp_path: Path) -> None:
    import getpass
    import time

    runs = tmp_path / "runs"
    fake = tmp_path / "stanzalink"
    fake.write_text(FAKE_AGENT.format(runs=runs))
    fake.chmod(0o755)
    init = ROOT / "packaging/S90stanzalink"
    env = {
        **os.environ,
        "STANZALINK_DAEMON": str(fake),
        "STANZALINK_PIDFILE": str(tmp_path / "agent.pid"),
        "STANZALINK_STATE": str(tmp_path / "state"),
        "STANZALINK_LOGS": str(tmp_path / "logs"),
        "STANZALINK_REBOOT_DIR": str(tmp_path / "reboot"),
        "STANZALINK_REBOOT": "/bin/true",  # never the host's reboot
        "STANZALINK_USER": getpass.getuser(),
        "STANZALINK_RESPAWN_DELAY": "1",
    }
    res = subprocess.run([str(init), "start"], capture_output=True, text=True, timeout=30, env=env)
    assert res.returncode == 0 and "OK" in res.stdout, res.stdout + res.stderr
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (not runs.exists() or runs.read_text().count("run") < 2):
        time.sleep(0.1)
    assert runs.read_text().split() == ["run", "run"], "not started again after status 75"
    # its stderr would go nowhere: the agent logs to syslog
    assert (tmp_path / "runs.args").read_text().split()[-1] == "--syslog"
    res = subprocess.run([str(init), "stop"], capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode == 0 and "OK" in res.stdout, res.stdout + res.stderr
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "stopped" not in runs.read_text():
        time.sleep(0.1)
    assert runs.read_text().split() == ["run", "run", "stopped"]
    assert not (tmp_path / "agent.pid").exists()
    time.sleep(0.5)  # and nothing starts it again
    assert runs.read_text().split() == ["run", "run", "stopped"]
