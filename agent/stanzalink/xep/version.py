"""XEP-0092 Software Version: controllers may ask which software the device
runs.

Answers ``name`` (``[identity] software_name``, default "stanzalink"),
``version`` (``stanzalink.__version__``) and ``os`` (``[identity] os``, else
PRETTY_NAME from ``/etc/os-release``, else the kernel name and release).
``hide_os = true`` leaves ``<os/>`` out.  ``hide_version = true`` sends an
empty ``<version/>``: XEP-0092 makes the element REQUIRED in a result, so
it is kept, without the number.
"""

from __future__ import annotations

import os

import stanzalink
from stanzalink.access import Role
from stanzalink.xep.base import Context, Feature, IQRoute
from stanzalink.xep.identity import IDENTITY, SOFTWARE_NAME
from stanzalink.xml import Element
from stanzalink.xml.plain import E, PlainElement, sub

NS = "jabber:iq:version"
OS_RELEASE = "/etc/os-release"


def os_name(os_release: str | os.PathLike[str] = OS_RELEASE) -> str:
    """PRETTY_NAME of os-release(5), else e.g. "Linux 6.1.0"."""
    try:
        with open(os_release, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() == "PRETTY_NAME":
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                    value = value[1:-1]
                if value:
                    return value
    except OSError:
        pass
    import platform

    return f"{platform.system()} {platform.release()}".strip()


class Version(Feature):
    name = "version"
    config_sections = (IDENTITY,)
    disco_features = (NS,)

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self._os: str | None = None

    def iq_routes(self) -> list[IQRoute]:
        return [IQRoute("get", f"{{{NS}}}query", self._version, Role.VIEWER)]

    def _version(self, iq: Element, role: Role | None) -> PlainElement:
        cfg = IDENTITY.of(self.ctx.config)
        query = E(f"{{{NS}}}query")
        sub(query, f"{{{NS}}}name", text=cfg["software_name"] or SOFTWARE_NAME)
        sub(
            query,
            f"{{{NS}}}version",
            text=None if cfg.get("hide_version") else stanzalink.__version__,
        )
        if not cfg.get("hide_os"):
            if self._os is None:
                self._os = cfg.get("os") or os_name()
            sub(query, f"{{{NS}}}os", text=self._os)
        return query
