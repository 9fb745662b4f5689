"""The ``[identity]`` section: what contacts see of the device, shared by
the features that show it (disco's identity name, entity capabilities' node,
the software version, the vCard and its avatar).  The avatar file is read
and checked in :mod:`stanzalink.xep.photo`, loaded only when the config
names one.
"""

from __future__ import annotations

from typing import Any

from stanzalink.config import (
    Checking,
    ConfigError,
    Key,
    Section,
    boolean,
    num_range,
    string,
    text,
)

CAPS_NODE = "urn:stanzalink:caps"  # XEP-0115 node: a URI naming the software
SOFTWARE_NAME = "stanzalink"  # XEP-0092: the name answered
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


def _photo(key: str, value: Any) -> str:
    # loaded only when [identity] photo is given
    from stanzalink.xep.photo import check_photo

    return check_photo(key, value)


def _public(key: str, value: Any) -> list[str]:
    # loaded only when [identity] public is given
    from stanzalink.xep.photo import check_public

    return check_public(key, value)


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
        "public": Key(_public, [], "what else the vCard on the server (anyone may read it) holds"),
        "software_name": Key(string, SOFTWARE_NAME, "XEP-0092: the name answered"),
        "os": Key(string, None, "XEP-0092: the OS answered; default from /etc/os-release"),
        "hide_os": Key(boolean, False, "true: answer no OS"),
        "hide_version": Key(boolean, False, "true: answer an empty version"),
        "caps_node": Key(text, CAPS_NODE, "XEP-0115 node"),
    },
    _check,
)
