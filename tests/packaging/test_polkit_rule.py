"""packaging/10-stanzalink.rules, run by node the way polkitd runs it (a
fresh global scope holding only ``polkit``; tests/packaging/polkit_harness.js)
and asked every question of a matrix: the user stanzalink gets exactly the
two actions `systemctl reboot` needs from logind, is refused every other
action (so no later rule can widen it), and every other user is left to the
rest of the policy.  Then the same under the real polkitd, asked by pkcheck,
where logind's policy adds what those two imply (set-wall-message)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import NoReturn

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


def unavailable(why: str) -> NoReturn:
    """Skip where the tool is missing; in CI (which installs it through
    scripts/bootstrap.sh) a missing tool is a failure, not a quiet skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI=true: scripts/bootstrap.sh installs it)")
    pytest.skip(why)


def policies() -> dict[str, set[str]]:
    """The actions the host's polkit defines, each with the actions it
    implies (``org.freedesktop.policykit.imply``: who is authorized for the
    first is authorized for these too)."""
    found: dict[str, set[str]] = {}
    for policy in Path("/usr/share/polkit-1/actions").glob("*.policy"):
        try:
            tree = ET.parse(policy)
        except ET.ParseError:
            continue
        for action in tree.iter("action"):
            found[action.get("id", "")] = {
                implied
                for note in action.iter("annotate")
                if note.get("key") == "org.freedesktop.policykit.imply"
                for implied in (note.text or "").split()
            }
    return found


def actions_known_here() -> set[str]:
    return set(policies())


def ask(questions: list[dict[str, object]]) -> list[str | None]:
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed")
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


POLKITD = "/usr/lib/polkit-1/polkitd"
AGENT_UID = 64990  # the user stanzalink inside the namespace (a uid the host does not use)
MEMBER_UID = 64991  # alice: another user, in the group stanzalink

# polkitd and a system D-Bus of their own, in a new mount and PID namespace:
# /run is a fresh tmpfs (the bus socket), /etc/passwd and /etc/group name
# the users, /etc/polkit-1/rules.d holds only what the test gives it; then
# pkcheck asks about processes of each user and prints "user action status"
POLKIT_BOOT = """
set -e
mount --make-rprivate /
mount -t tmpfs tmpfs /run
mkdir /run/dbus
mount --bind {folder}/passwd /etc/passwd
mount --bind {folder}/group /etc/group
mount --bind {folder}/rules /etc/polkit-1/rules.d
dbus-daemon --system --fork --nopidfile
{polkitd} --no-debug > {folder}/polkitd.log 2>&1 &
set +e
tries=0
while :; do
    pkcheck --action-id org.freedesktop.login1.reboot --process $$ >/dev/null 2>&1
    [ $? -le 3 ] && break
    tries=$((tries + 1))
    [ $tries -ge 100 ] && {{ echo "polkitd does not answer"; exit 1; }}
    sleep 0.1
done
for who in stanzalink:{agent}:{agent} alice:{member}:{agent} nobody:65534:65534; do
    IFS=: read -r name uid groups <<END
$who
END
    setpriv --reuid=$uid --regid=$uid --groups=$groups sleep 60 &
    pid=$!
    # still root until setpriv has switched (and root polkit always allows)
    while [ "$(stat -c %u /proc/$pid)" != "$uid" ]; do sleep 0.05; done
    for action in {actions}; do
        pkcheck --action-id "$action" --process $pid >/dev/null 2>&1
        echo "$name $action $?"
    done
    kill $pid
done
"""


def pkcheck(folder: Path, rules: list[Path], actions: list[str]) -> dict[tuple[str, str], int]:
    """pkcheck's exit status (0 authorized, 1 not, 2 needs authentication)
    per (user, action), under a real polkitd with these rules files."""
    folder.mkdir()
    (folder / "rules").mkdir()
    (folder / "rules").chmod(0o755)
    for rule in rules:
        shutil.copy(rule, folder / "rules" / rule.name)
        (folder / "rules" / rule.name).chmod(0o644)
    passwd = Path("/etc/passwd").read_text()
    group = Path("/etc/group").read_text()
    (folder / "passwd").write_text(
        passwd
        + f"stanzalink:x:{AGENT_UID}:{AGENT_UID}::/nonexistent:/usr/sbin/nologin\n"
        + f"alice:x:{MEMBER_UID}:{MEMBER_UID}::/nonexistent:/usr/sbin/nologin\n"
    )
    (folder / "group").write_text(
        group + f"stanzalink:x:{AGENT_UID}:alice\nalice:x:{MEMBER_UID}:\n"
    )
    boot = folder / "boot.sh"
    boot.write_text(
        POLKIT_BOOT.format(
            folder=folder,
            polkitd=POLKITD,
            agent=AGENT_UID,
            member=MEMBER_UID,
            actions=" ".join(actions),
        )
    )
    res = subprocess.run(
        ["unshare", "--mount", "--pid", "--fork", "--mount-proc", "sh", str(boot)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    log = (folder / "polkitd.log").read_text() if (folder / "polkitd.log").exists() else ""
    assert res.returncode == 0, res.stdout + res.stderr + log
    assert "Error" not in log, log
    out = {}
    for line in res.stdout.splitlines():
        user, action, status = line.split()
        out[(user, action)] = int(status)
    assert len(out) == 3 * len(actions), res.stdout + res.stderr
    return out


@pytest.mark.skipif(
    os.geteuid() != 0 or bool(os.environ.get("STANZALINK_TEST_PYTHON")),
    reason="needs root (namespaces, bind mounts)",
)
def test_the_rule_under_polkitd(tmp_path: Path) -> None:
    tools = (POLKITD, "pkcheck", "dbus-daemon", "unshare", "setpriv")
    if not all(shutil.which(t) for t in tools):
        unavailable(f"needs {', '.join(tools)}")
    known = policies()
    if not set(known) >= GRANTED:
        unavailable("systemd-logind's polkit actions are not installed")
    actions = sorted(known)
    # polkitd authorizes an action also when the subject may do one that
    # implies it (one level deep): logind's policy has reboot imply
    # set-wall-message, which systemctl sets before it reboots
    allowed = GRANTED | {implied for a in GRANTED for implied in known[a]}
    assert allowed == GRANTED | {"org.freedesktop.login1.set-wall-message"}, allowed
    without = pkcheck(tmp_path / "without", [], actions)
    shipped = pkcheck(tmp_path / "with", [RULE], actions)
    for (user, action), status in shipped.items():
        if user == "stanzalink":
            # authorized for those, "not authorized" (no password asked) for the rest
            assert status == (0 if action in allowed else 1), (user, action, status)
        else:
            # the rule leaves them to the rest of the policy: as without it
            assert status == without[(user, action)], (user, action, status)
    # and without the rule, the agent could not reboot
    assert all(without[("stanzalink", a)] != 0 for a in GRANTED)
