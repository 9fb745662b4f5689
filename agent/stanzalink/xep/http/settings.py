"""The ``[http]`` section: where the device's XEP-0332 requests go (a local
origin or a WSGI application), the role each path needs, and the limits."""

from __future__ import annotations

from typing import Any

from stanzalink.config import (
    Checking,
    ConfigError,
    Key,
    Section,
    count,
    integer,
    positive,
    size,
    string,
    text,
)

CHUNK_MIN, CHUNK_MAX = 256, 65536  # XEP-0332's bounds of a chunk


def _wsgi_spec(key: str, value: Any) -> str:
    v = text(key, value)
    module, _, attr = v.partition(":")
    if not all(part.isidentifier() for part in module.split(".")) or (
        attr and not attr.isidentifier()
    ):
        raise ConfigError(f"{key}: {v!r} is not like package.module:app")
    return str(v)


def _chunk_size(key: str, value: Any) -> int:
    v = integer(key, value)
    if not CHUNK_MIN <= v <= CHUNK_MAX:
        raise ConfigError(
            f"{key}: must be between {CHUNK_MIN} and {CHUNK_MAX} bytes (XEP-0332), got {v}"
        )
    return int(v)


def _origin_url(key: str, value: Any) -> str:
    from urllib.parse import urlsplit  # with an origin only (it imports ipaddress)

    v = string(key, value)
    try:
        parts = urlsplit(v)
        parts.port  # noqa: B018 - raises ValueError when out of range
    except ValueError:
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ConfigError(f"{key}: {v!r} is not an origin like http://127.0.0.1:8080")
    return str(v)


def _role_table(key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(f'{key}: expected a table like {{ "/api/" = "viewer" }}')
    for prefix, role in value.items():
        if not isinstance(prefix, str) or not prefix.startswith("/"):
            raise ConfigError(f"{key}: {prefix!r} must start with /")
        if role not in ("admin", "operator", "viewer"):
            raise ConfigError(f"{key}.{prefix}: {role!r} is not admin, operator or viewer")
    return dict(value)


def _check(values: dict[str, Any], checking: Checking) -> None:
    if values["origin"] is not None and values["wsgi_app"] is not None:
        raise ConfigError("http.origin / http.wsgi_app: give only one of them")


HTTP = Section(
    "http",
    {
        "origin": Key(_origin_url, None, "the local HTTP/1.1 origin"),
        "wsgi_app": Key(_wsgi_spec, None, "or a WSGI application (package.module:app)"),
        "paths": Key(_role_table, {}, "role per path prefix; others need operator"),
        "max_request_body": Key(size, 1 << 20, "bytes; larger: 413"),
        "max_response_body": Key(size, 4 << 20, "bytes; larger: 502"),
        "chunk_size": Key(_chunk_size, 4096, "bodies larger than this go chunked"),
        "max_concurrent": Key(count, 8, "requests at once"),
        "timeout": Key(positive, 30.0, "seconds for the origin's answer"),
    },
    _check,
)
