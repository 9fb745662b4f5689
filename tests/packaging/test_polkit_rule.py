"""packaging/10-stanzalink.rules, run by node the way polkitd runs it (a
fresh global scope holding only ``polkit``; tests/packaging/polkit_harness.js)
and asked every question of a matrix: the user stanzalink gets exactly the
two actions `systemctl reboot` needs from logind, is refused every other
action (so no later rule can widen it), and every other user is left to the
rest of the policy."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULE = ROOT / "packaging/10-stanzalink.rules"
HARNESS = Path(__file__).with_name("polkit_harness.js")

GRANTED = {
    # what logind 252 asks polkit for on `systemctl reboot`: the first when no
    # other user has a session, the second when one has
    "org.freedesktop.login1.reboot",
    "org.freedesktop.login1.reboot-multiple-sessions",
}
# near misses and the rest of what a device's polkit knows: none is granted
ACTIONS = GRANTED | {
    "org.freedesktop.login1.reboot-ignore-inhibit",
    "org.freedesktop.login1.set-wall-message",
    "org.freedesktop.login1.set-reboot-parameter",
    "org.freedesktop.login1.set-reboot-to-firmware-setup",
    "org.freedesktop.login1.set-reboot-to-boot-loader-menu",
    "org.freedesktop.login1.set-reboot-to-boot-loader-entry",
    "org.freedesktop.login1.power-off",
    "org.freedesktop.login1.power-off-multiple-sessions",
    "org.freedesktop.login1.halt",
    "org.freedesktop.login1.suspend",
    "org.freedesktop.login1.hibernate",
    "org.freedesktop.login1.inhibit-block-shutdown",
    "org.freedesktop.login1.manage",
    "org.freedesktop.login1.set-user-linger",
    "org.freedesktop.login1.reboot.extra",
    "org.freedesktop.login1.rebootx",
    "org.freedesktop.login1.REBOOT",
    "org.freedesktop.systemd1.manage-units",
    "org.freedesktop.systemd1.manage-unit-files",
    "org.freedesktop.systemd1.reload-daemon",
    "org.freedesktop.hostname1.set-hostname",
    "org.freedesktop.timedate1.set-time",
    "org.freedesktop.network1.set-dns-servers",
    "org.freedesktop.policykit.exec",
    "",
}
# (user, groups): only the first is the agent
SUBJECTS = [
    ("stanzalink", ["stanzalink"]),
    ("root", ["root"]),
    ("alice", ["alice", "stanzalink"]),  # in the agent's group: not the agent
    ("nobody", ["nogroup"]),
    ("stanzalink2", ["stanzalink"]),
    ("Stanzalink", ["stanzalink"]),
    (" stanzalink", []),
    ("", []),
]


def actions_known_here() -> set[str]:
    """The actions the host's polkit defines, where it has any."""
    found = set()
    for policy in Path("/usr/share/polkit-1/actions").glob("*.policy"):
        try:
            tree = ET.parse(policy)
        except ET.ParseError:
            continue
        found |= {a.get("id", "") for a in tree.iter("action")}
    return found


def ask(questions: list[dict[str, object]]) -> list[str | None]:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is not installed (CI=true: scripts/bootstrap.sh installs nodejs)")
        pytest.skip("node is not installed")
    res = subprocess.run(
        [node, str(HARNESS), str(RULE)],
        input=json.dumps(questions),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    answers: list[str | None] = json.loads(res.stdout)
    assert len(answers) == len(questions)
    return answers


def test_the_rule_grants_the_agent_reboot_and_nothing_else() -> None:
    actions = sorted(ACTIONS | actions_known_here())
    questions = [
        {"user": user, "groups": groups, "action": action}
        for user, groups in SUBJECTS
        for action in actions
    ]
    answers = ask(questions)
    wrong = []
    for q, got in zip(questions, answers, strict=True):
        # another user: NOT_HANDLED (None), the rest of the policy decides
        agent = q["user"] == "stanzalink"
        want = ("yes" if q["action"] in GRANTED else "no") if agent else None
        if got != want:
            wrong.append(f"{q['user']!r} {q['action']!r}: {got!r}, want {want!r}")
    assert not wrong, "\n".join(wrong)
    assert answers.count("yes") == len(GRANTED)


def test_the_rule_is_plain_ecmascript_5() -> None:
    # polkitd's engine is duktape (ES5.1) since polkit 121, mozjs before
    code = "\n".join(
        line for line in RULE.read_text().splitlines() if not line.lstrip().startswith("//")
    )
    for es6 in (r"=>", r"\blet\b", r"\bconst\b", r"`", r"\bclass\b"):
        assert not re.search(es6, code), es6
    assert code.count("polkit.addRule(") == 1
