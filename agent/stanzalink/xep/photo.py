"""The ``[identity]`` values only the vCard reads, checked when the config
gives them: the avatar file (``photo``: read and checked here when the
config is loaded and when the vCard feature looks at it again) and the
``public`` list.  Apart from :mod:`stanzalink.xep.identity`, which every
agent loads, so that a device with no avatar never holds this code."""

from __future__ import annotations

import os
from typing import Any

from stanzalink._value import Value, _set
from stanzalink.config import ConfigError, file
from stanzalink.digest import hexdigest

PHOTO_MAX = 64 * 1024
# what [identity] public may add to the vCard stored on the server, which
# anyone may read (name and photo always go there; "geo": latitude and longitude)
PUBLISHABLE = ("nickname", "description", "model", "serial", "location", "geo", "url")

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


def check_photo(key: str, value: Any) -> str:
    """The value of ``[identity] photo``: a file holding an avatar
    (ConfigError saying what is wrong with it)."""
    path = file(key, value)
    try:
        read_photo(path)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    return path


def check_public(key: str, value: Any) -> list[str]:
    """The value of ``[identity] public``: a list of :data:`PUBLISHABLE`
    names (ConfigError naming what is not one)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key}: expected a list of names, got {value!r}")
    for item in value:
        if item not in PUBLISHABLE:
            raise ConfigError(f"{key}: {item!r} is not one of {', '.join(PUBLISHABLE)}")
    return list(value)
