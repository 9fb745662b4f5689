"""The ``[identity]`` section: what contacts see of the device, shared by
the features that show it (disco's identity name, entity capabilities' node,
the software version, the vCard and its avatar).  The avatar file is read
and checked here, when the config is loaded and when the vCard feature
looks at it again.
"""

from __future__ import annotations

import os
from typing import Any

from stanzalink._value import Value, _set
from stanzalink.config import (
    Checking,
    ConfigError,
    Key,
    Section,
    boolean,
    file,
    num_range,
    string,
    text,
)
from stanzalink.digest import hexdigest

PHOTO_MAX = 64 * 1024
CAPS_NODE = "urn:stanzalink:caps"  # XEP-0115 node: a URI naming the software
SOFTWARE_NAME = "stanzalink"  # XEP-0092: the name answered
# what [identity] public may add to the vCard stored on the server, which
# anyone may read (name and photo always go there; "geo": latitude and longitude)
PUBLISHABLE = ("nickname", "description", "model", "serial", "location", "geo", "url")
# the [identity] keys of the device's vCard: with none set, the vCard
# feature publishes nothing and its code waits until a vCard is asked for
CARD_KEYS = (
    "name", "nickname", "description", "model", "serial", "location",
    "latitude", "longitude", "url", "photo",
)  # fmt: skip


def card_configured(identity: dict[str, Any]) -> bool:
    """Whether ``[identity]`` (its values, defaults filled) sets a key of
    the vCard."""
    return any(identity.get(k) not in (None, "") for k in CARD_KEYS)


_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def image_type(data: bytes) -> str | None:
    """The MIME type of an image from its first bytes, or None."""
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class Photo(Value):
    __slots__ = ("data", "stamp", "type")
    data: bytes
    type: str
    stamp: tuple[int, int]  # (mtime_ns, size) when read

    def __init__(self, data: bytes, type: str, stamp: tuple[int, int]) -> None:
        _set(self, "data", data)
        _set(self, "type", type)
        _set(self, "stamp", stamp)

    @property
    def sha1(self) -> str:
        return hexdigest("sha1", self.data)


def read_photo(path: str) -> Photo:
    """Read and check an avatar file (ValueError says what is wrong)."""
    try:
        st = os.stat(path)
        if st.st_size > PHOTO_MAX:
            raise ValueError(f"{path} is {st.st_size} bytes, more than {PHOTO_MAX}")
        with open(path, "rb") as fh:
            data = fh.read(PHOTO_MAX + 1)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > PHOTO_MAX:
        raise ValueError(f"{path} is more than {PHOTO_MAX} bytes")
    mime = image_type(data)
    if mime is None:
        raise ValueError(f"{path} is not a PNG, JPEG, GIF or WebP image")
    return Photo(data, mime, (st.st_mtime_ns, st.st_size))


def check_public(key: str, value: Any) -> list[str]:
    """The value of ``[identity] public``: a list of :data:`PUBLISHABLE`
    names (ConfigError naming what is not one)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key}: expected a list of names, got {value!r}")
    for item in value:
        if item not in PUBLISHABLE:
            raise ConfigError(f"{key}: {item!r} is not one of {', '.join(PUBLISHABLE)}")
    return list(value)


def _photo(key: str, value: Any) -> str:
    path = file(key, value)
    try:
        read_photo(path)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    return path


def _check(values: dict[str, Any], checking: Checking) -> None:
    if (values["latitude"] is None) != (values["longitude"] is None):
        raise ConfigError("identity.latitude / identity.longitude: give both or neither")


IDENTITY = Section(
    "identity",
    {
        "name": Key(text, None, "disco identity name (default stanzalink) and vCard FN"),
        "nickname": Key(string, None, "vCard NICKNAME"),
        "description": Key(string, None, "vCard DESC"),
        "model": Key(string, None, "vCard TITLE"),
        "serial": Key(string, None, "vCard NOTE"),
        "location": Key(string, None, "vCard ADR/LOCALITY"),
        "latitude": Key(num_range(-90, 90), None, "vCard GEO; both or neither"),
        "longitude": Key(num_range(-180, 180), None, "vCard GEO"),
        "url": Key(string, None, "vCard URL"),
        "photo": Key(_photo, None, "avatar: PNG, JPEG, GIF or WebP, at most 64 KiB", file=True),
        "public": Key(
            check_public, [], "what else the vCard on the server (anyone may read it) holds"
        ),
        "software_name": Key(string, SOFTWARE_NAME, "XEP-0092: the name answered"),
        "os": Key(string, None, "XEP-0092: the OS answered; default from /etc/os-release"),
        "hide_os": Key(boolean, False, "true: answer no OS"),
        "hide_version": Key(boolean, False, "true: answer an empty version"),
        "caps_node": Key(text, CAPS_NODE, "XEP-0115 node"),
    },
    _check,
)
