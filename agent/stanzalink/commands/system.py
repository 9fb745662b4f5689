"""What the device is doing, read straight from /proc and /sys (no psutil:
nothing an embedded image does not already have).  Every reader returns
what it found and tolerates what a kernel or container does not offer.
``root`` lets tests point the readers at a fake tree."""

from __future__ import annotations

import ipaddress
import os
import platform
import struct
from dataclasses import dataclass
from pathlib import Path


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def human_seconds(s: float) -> str:
    s = int(s)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days} d {hours} h {minutes} min"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {s} s"


@dataclass
class System:
    root: Path = Path("/")

    def p(self, rel: str) -> Path:
        return self.root / rel.lstrip("/")

    # -- basics
    def uptime(self) -> float | None:
        text = _read(self.p("proc/uptime"))
        return float(text.split()[0]) if text else None

    def load(self) -> tuple[float, float, float] | None:
        text = _read(self.p("proc/loadavg"))
        if not text:
            return None
        a, b, c = (float(x) for x in text.split()[:3])
        return a, b, c

    def memory(self) -> dict[str, int]:
        """MemTotal, MemAvailable, SwapTotal, SwapFree ... in bytes."""
        out: dict[str, int] = {}
        for line in (_read(self.p("proc/meminfo")) or "").splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                out[key] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
        return out

    def disk(self, path: str) -> tuple[int, int] | None:
        """(total, available) bytes of the file system holding ``path``."""
        try:
            st = os.statvfs(self.p(path))
        except OSError:
            return None
        return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize

    def temperatures(self) -> list[tuple[str, float]]:
        out = []
        for zone in sorted(self.p("sys/class/thermal").glob("thermal_zone*")):
            temp = _read(zone / "temp")
            if temp and temp.strip().lstrip("-").isdigit():
                kind = (_read(zone / "type") or zone.name).strip()
                out.append((kind, int(temp) / 1000))
        return out

    # -- network
    def interfaces(self) -> list[tuple[str, int, int]]:
        """(name, rx bytes, tx bytes) from /proc/net/dev."""
        out = []
        for line in (_read(self.p("proc/net/dev")) or "").splitlines()[2:]:
            name, _, rest = line.partition(":")
            fields = rest.split()
            if len(fields) >= 9:
                out.append((name.strip(), int(fields[0]), int(fields[8])))
        return out

    def routes(self) -> list[tuple[str, str, str, str]]:
        """IPv4 routes (interface, destination/prefix, gateway, flags)."""
        out = []
        for line in (_read(self.p("proc/net/route")) or "").splitlines()[1:]:
            f = line.split()
            if len(f) < 8:
                continue
            dest, gw, mask = (_hex_ip(f[1]), _hex_ip(f[2]), _hex_ip(f[7]))
            prefix = ipaddress.IPv4Network(f"0.0.0.0/{mask}").prefixlen
            flags = int(f[3], 16)
            gateway = bool(flags & 2)
            out.append((f[0], f"{dest}/{prefix}", gw if gateway else "", "UG" if gateway else "U"))
        return out

    def addresses(self) -> dict[str, list[str]]:
        """Interface -> addresses: IPv6 from /proc/net/if_inet6; IPv4 local
        addresses from /proc/net/fib_trie, matched to the interface whose
        route covers them."""
        out: dict[str, list[str]] = {}
        subnets = []
        for iface, net, _gw, _flags in self.routes():
            n = ipaddress.IPv4Network(net, strict=False)
            if n.prefixlen:
                subnets.append((n, iface))
        for addr in self._local_v4():
            ip = ipaddress.IPv4Address(addr)
            name = "lo" if ip.is_loopback else ""
            prefix = 8 if ip.is_loopback else None
            for n, iface in sorted(subnets, key=lambda s: -s[0].prefixlen):
                if ip in n:
                    name, prefix = iface, n.prefixlen
                    break
            # written like the IPv6 addresses: address/prefix of its route
            out.setdefault(name or "?", []).append(addr if prefix is None else f"{addr}/{prefix}")
        for line in (_read(self.p("proc/net/if_inet6")) or "").splitlines():
            f = line.split()
            if len(f) == 6 and len(f[0]) == 32:
                ip6 = ipaddress.IPv6Address(bytes.fromhex(f[0]))
                out.setdefault(f[5], []).append(f"{ip6}/{int(f[2], 16)}")
        return out

    def _local_v4(self) -> list[str]:
        seen: list[str] = []
        last = ""
        for line in (_read(self.p("proc/net/fib_trie")) or "").splitlines():
            s = line.strip()
            if s.startswith("|--"):
                last = s[3:].strip()
            elif s.startswith("/32 host LOCAL") and last and last not in seen:
                seen.append(last)
        return seen

    def nameservers(self) -> list[str]:
        out = []
        for line in (_read(self.p("etc/resolv.conf")) or "").splitlines():
            f = line.split()
            if len(f) >= 2 and f[0] == "nameserver":
                out.append(f[1])
        return out

    # -- identity
    def model(self) -> str:
        for rel in (
            "proc/device-tree/model",
            "sys/firmware/devicetree/base/model",
            "sys/class/dmi/id/product_name",
        ):
            text = _read(self.p(rel))
            if text and text.strip("\x00\n "):
                return text.strip("\x00\n ")
        return platform.machine()

    def os_release(self) -> str:
        for rel in ("etc/os-release", "usr/lib/os-release"):
            for line in (_read(self.p(rel)) or "").splitlines():
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
        return ""

    def kernel(self) -> str:
        u = os.uname()
        return f"{u.sysname} {u.release} {u.machine}"

    def hostname(self) -> str:
        return os.uname().nodename


def _hex_ip(h: str) -> str:
    return str(ipaddress.IPv4Address(struct.pack("<I", int(h, 16))))
