"""packaging/stanzalink.service read by systemd's own tools, offline:
`systemd-analyze verify` finds nothing, `systemd-analyze security` rates its
exposure at most 1.8 (what it was before the unit got its logs directory and
reboot rule; lower is better), and every file the shipped and the example
configs write lies in a folder the unit makes writable."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "packaging/stanzalink.service"
MAX_EXPOSURE = 1.8


def analyze(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("systemd-analyze") is None:
        if os.environ.get("CI"):
            pytest.fail("no systemd-analyze (CI=true: scripts/bootstrap.sh installs systemd)")
        pytest.skip("systemd-analyze is not installed")
    # verify wants the binaries the unit names to exist: a copy that names one that does
    unit = tmp_path / "stanzalink.service"
    unit.write_text(UNIT.read_text().replace("/usr/bin/stanzalink", "/bin/true"))
    # and the man page its Documentation= names, the one the Debian package
    # installs, where man(1) finds it
    (tmp_path / "man/man1").mkdir(parents=True)
    shutil.copy(ROOT / "debian/stanzalink.1", tmp_path / "man/man1")
    return subprocess.run(
        ["systemd-analyze", *args, str(unit)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            **os.environ,
            "SYSTEMD_LOG_COLOR": "0",
            "SYSTEMD_COLORS": "0",
            "MANPATH": str(tmp_path / "man"),
        },
    )


def test_systemd_analyze_verify_finds_nothing(tmp_path: Path) -> None:
    res = analyze(tmp_path, "verify")
    assert res.returncode == 0, res.stderr
    assert "stanzalink.service" not in res.stderr, res.stderr


def test_documentation_is_the_man_page_the_package_installs() -> None:
    (docs,) = re.findall(r"^Documentation=(.+)$", UNIT.read_text(), re.M)
    assert docs.split() == ["man:stanzalink(1)"]
    assert (ROOT / "debian/stanzalink.manpages").read_text().split() == ["debian/stanzalink.1"]
    assert (ROOT / "debian/stanzalink.1").read_text().startswith(".TH STANZALINK 1 ")


def test_exposure_stays_at_most_what_it_was(tmp_path: Path) -> None:
    res = analyze(tmp_path, "security", "--offline=true", "--no-pager")
    score = re.search(r"Overall exposure level for stanzalink\.service: (\d+\.\d)", res.stdout)
    assert score, res.stdout + res.stderr
    assert float(score.group(1)) <= MAX_EXPOSURE, res.stdout


def writable_folders() -> list[str]:
    unit = UNIT.read_text()
    assert re.search(r"^ProtectSystem=strict$", unit, re.M)
    folders = []
    for key, base in (("StateDirectory", "/var/lib"), ("LogsDirectory", "/var/log")):
        names = re.search(rf"^{key}=(.+)$", unit, re.M)
        assert names, key
        folders += [f"{base}/{name}/" for name in names.group(1).split()]
    return folders


def written_paths(text: str) -> dict[str, str]:
    """The keys naming files the agent writes, set or commented out."""
    found = {}
    for key in ("scram_keys_file", "inbox", "audit_log"):
        for m in re.finditer(rf'^#? ?{key} = "([^"]+)"', text, re.M):
            found[f"{key} {m.group(1)}"] = m.group(1)
    return found


@pytest.mark.parametrize("config", ["packaging/device.toml", "examples/device.toml"])
def test_what_the_configs_write_is_writable_under_the_unit(config: str) -> None:
    text = (ROOT / config).read_text()
    tomllib.loads(text)
    paths = written_paths(text)
    assert {k.split()[0] for k in paths} == {"scram_keys_file", "inbox", "audit_log"}
    folders = writable_folders()
    outside = [k for k, path in paths.items() if not path.startswith(tuple(folders))]
    assert not outside, f"not writable under ProtectSystem=strict: {outside}"
