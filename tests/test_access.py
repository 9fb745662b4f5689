"""The access-control decisions: one place, on the outer from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stanzalink.access import AccessControl, Role
from stanzalink.jid import JID, from_own_server

OWN = JID.parse("device1@example.net")
ACL = AccessControl(
    OWN,
    {
        "admin": ["alice@example.net"],
        "operator": ["ops.example.org", "bob@example.net/console"],
        "viewer": ["carol@example.net", "alice@example.net"],
    },
)


@pytest.mark.parametrize(
    ("sender", "role"),
    [
        ("alice@example.net", Role.ADMIN),
        ("alice@example.net/laptop", Role.ADMIN),  # highest role wins
        ("ALICE@Example.NET/laptop", Role.ADMIN),  # case
        (
            "\uff41\uff4c\uff49\uff43\uff45@example.net/x",
            Role.ADMIN,
        ),  # fullwidth letters are one account
        ("alice@example.net.", Role.ADMIN),  # trailing dot
        ("alíce@example.net", None),  # a lookalike
        ("alice@example.net.evil.org", None),
        ("bob@example.net/console", Role.OPERATOR),
        ("bob@example.net/phone", None),  # only the named resource
        ("bob@example.net", None),
        ("anyone@ops.example.org/x", Role.OPERATOR),
        ("ops.example.org", None),  # a domain entry admits accounts, not the server
        ("sub.ops.example.org", None),
        ("x@sub.ops.example.org", None),
        ("carol@example.net/r", Role.VIEWER),
        ("device1@example.net/other", None),  # own account
        ("device1@example.net", None),
        ("example.net", None),  # own server
        (None, None),
        ("not a jid@@", None),
        ("stranger@example.net", None),
    ],
)
def test_roles(sender: str | None, role: Role | None) -> None:
    assert ACL.role(sender) == role


def test_allows_by_rank() -> None:
    assert ACL.allows("alice@example.net/a", Role.OPERATOR)
    assert not ACL.allows("carol@example.net/a", Role.OPERATOR)
    assert ACL.allows("carol@example.net/a", Role.VIEWER)
    assert not ACL.allows(None, Role.VIEWER)


def test_own_account_only_when_named_as_full_jid() -> None:
    acl = AccessControl(OWN, {"admin": ["device1@example.net/maintenance"]})
    assert acl.role("device1@example.net/maintenance") is Role.ADMIN
    assert acl.role("device1@example.net/agent") is None


def test_own_server() -> None:
    assert ACL.from_own_server(None)
    assert ACL.from_own_server("device1@example.net")
    assert ACL.from_own_server("example.net")
    assert not ACL.from_own_server("device1@example.net/other")
    assert not ACL.from_own_server("alice@example.net")


@pytest.mark.parametrize(
    ("sender", "own"),
    [
        (None, True),  # no from: the server on the account's behalf
        ("example.net", True),
        ("EXAMPLE.net.", True),  # normalised before comparing
        ("device1@example.net", True),  # roster pushes (RFC 6121 §2.1.6)
        ("Device1@Example.NET", True),
        (JID(None, "example.net"), True),
        ("device1@example.net/other", False),  # another resource of the account
        ("example.net/res", False),
        ("alice@example.net", False),
        ("other.example", False),
        ("", False),  # malformed
        ("a@b@c", False),
    ],
)
def test_the_one_own_server_rule(sender: str | JID | None, own: bool) -> None:
    """Access control and the session decide with the same rule in jid.py,
    whether the device's own JID is given bare or full."""
    assert from_own_server(OWN, sender) is own
    assert from_own_server(OWN.with_resource("agent"), sender) is own
    assert ACL.from_own_server(sender) is own


def test_denial_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    acl = AccessControl(OWN, {"viewer": ["carol@example.net"]})
    with caplog.at_level("WARNING"):
        assert acl.check("eve@example.net/x", Role.VIEWER, "get disco") is None
        assert acl.check("carol@example.net/x", Role.ADMIN, "command reboot") is None
        assert acl.check("carol@example.net/x", Role.VIEWER, "get disco") is Role.VIEWER
    text = caplog.text
    assert "denied get disco to eve@example.net/x: not a controller" in text
    assert "denied command reboot to carol@example.net/x: role viewer, needs admin" in text


def test_bad_role_name() -> None:
    with pytest.raises(ValueError, match="not a role"):
        AccessControl(OWN, {"root": ["alice@example.net"]})


def test_denial_log_is_bounded_per_account_and_in_all(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Denials were logged once a minute per *full* JID and action: a
    remote server can send from any number of resources and accounts, one
    warning each.  Now once a minute per account and action, and at most
    ``deny_log_burst`` lines a minute in all; the rest are counted in the
    next line."""
    now = [1000.0]
    monkeypatch.setattr("stanzalink.access.time.monotonic", lambda: now[0])
    acl = AccessControl(OWN, {"viewer": ["carol@example.net"]})
    with caplog.at_level("WARNING", logger="stanzalink.access"):
        for i in range(500):
            acl.check(f"eve@evil.example/r{i}", Role.VIEWER, "get disco")
        assert len(caplog.records) == 1
        for i in range(500):
            acl.check(f"x{i}@evil.example/r", Role.VIEWER, "get disco")
        assert len(caplog.records) == acl.deny_log_burst
        now[0] += 61
        caplog.clear()
        acl.check("late@evil.example/r", Role.VIEWER, "get disco")
    (rec,) = caplog.records
    assert "late@evil.example/r" in rec.getMessage()
    assert f"{500 - acl.deny_log_burst + 1} more denials not logged" in rec.getMessage()


# ------------------------------------------------------------ config checks
def _cfg(access: dict[str, list[str]], register: bool = False) -> dict[str, object]:
    return {
        "account": {"jid": "device1@example.net", "password": "pw", "register": register},
        "access": access,
    }


def test_one_jid_under_two_roles_is_refused() -> None:
    from stanzalink.agent import parse_config as parse
    from stanzalink.config import ConfigError

    with pytest.raises(
        ConfigError, match=re.escape("'Bob@example.net' is listed as admin and as viewer")
    ):
        parse(_cfg({"admin": ["bob@example.net"], "viewer": ["Bob@example.net"]}))
    with pytest.raises(ConfigError, match="listed as operator and as viewer"):
        parse(_cfg({"operator": ["ops.example.org"], "viewer": ["ops.example.org"]}))
    parse(_cfg({"admin": ["bob@example.net"], "viewer": ["bob@example.net/phone"]}))


def test_the_own_server_as_a_controller_domain() -> None:
    from stanzalink.access import check_entries
    from stanzalink.agent import parse_config as parse
    from stanzalink.config import ConfigError

    access = {"admin": ["alice@example.org"], "viewer": ["example.net"]}
    warnings = check_entries("device1@example.net", access)
    assert len(warnings) == 1 and "'example.net' is the device's own server" in warnings[0]
    parse(_cfg(access))  # accepted: check-config prints the warning
    with pytest.raises(ConfigError, match="register = true"):
        parse(_cfg(access, register=True))
    assert check_entries("device1@example.net", {"viewer": ["other.example.net"]}) == []


def test_check_config_warns_about_the_own_server(tmp_path: Path) -> None:
    import subprocess

    f = tmp_path / "device.toml"
    f.write_text(
        '[account]\njid = "device1@example.net"\npassword = "pw"\n'
        '[access]\nadmin = ["alice@example.org"]\nviewer = ["example.net"]\n'
    )
    from .util import python_cmd

    out = subprocess.run(
        [*python_cmd(), "-m", "stanzalink", "check-config", str(f)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "warning" in out.stderr and "'example.net' is the device's own server" in out.stderr
