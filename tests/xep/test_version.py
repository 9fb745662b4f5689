"""XEP-0092 between a controller and the device (the XEP's example 1 and 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

import stanzalink
from stanzalink.xep.version import Version, os_name
from stanzalink_testing.harness import Harness

ACCESS = {"viewer": ["romeo@montague.net"]}
Q = "{jabber:iq:version}"
ASK = (
    "<iq type='get' from='romeo@montague.net/orchard' to='device1@example.net/agent'"
    " id='version_1'><query xmlns='jabber:iq:version'/></iq>"
)


async def test_version_answer() -> None:
    h = Harness([Version], ACCESS, identity={"os": "Yocto 4.0 (kirkstone)"})
    h.receive(ASK)
    await h.next_sent()
    assert h.sent_xml[-1] == (
        '<iq type="result" id="version_1" to="romeo@montague.net/orchard">'
        '<query xmlns="jabber:iq:version"><name>stanzalink</name>'
        f"<version>{stanzalink.__version__}</version>"
        "<os>Yocto 4.0 (kirkstone)</os></query></iq>"
    )
    await h.close()


async def test_os_from_os_release_and_hidden_fields() -> None:
    h = Harness([Version], ACCESS)
    h.receive(ASK)
    reply = await h.next_sent()
    assert reply.findtext(f"{Q}query/{Q}os") == os_name()
    await h.close()

    h = Harness(
        [Version], ACCESS,
        identity={"software_name": "acme-agent", "hide_os": True, "hide_version": True},
    )  # fmt: skip
    h.receive(ASK)
    await h.next_sent()
    # <version/> is REQUIRED by XEP-0092: kept, empty; <os/> is optional: gone
    assert h.sent_xml[-1].endswith(
        '<query xmlns="jabber:iq:version"><name>acme-agent</name><version/></query></iq>'
    )
    await h.close()


def test_os_release_parsing(tmp_path: Path) -> None:
    f = tmp_path / "os-release"
    f.write_text(
        'NAME="Debian GNU/Linux"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'
    )
    assert os_name(f) == "Debian GNU/Linux 12 (bookworm)"
    f.write_text("PRETTY_NAME=Poky\n")
    assert os_name(f) == "Poky"
    f.write_text("ID=buildroot\n")
    fallback = os_name(f)
    assert fallback and fallback == os_name(tmp_path / "missing")


@pytest.mark.parametrize("sender", ["eve@example.net/x", None])
async def test_strangers_get_service_unavailable(sender: str | None) -> None:
    h = Harness([Version], ACCESS)
    frm = f" from='{sender}'" if sender else ""
    h.receive(f"<iq type='get'{frm} id='v1'><query xmlns='jabber:iq:version'/></iq>")
    await h.next_sent()
    assert "service-unavailable" in h.sent_xml[-1] and "stanzalink" not in h.sent_xml[-1]
    await h.close()
