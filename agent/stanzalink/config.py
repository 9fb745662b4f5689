"""The device configuration: a TOML file, checked completely at start.

Every key is documented in ``examples/device.toml``.  A key that is not
known, or a value of the wrong type or range, is refused with a message
that names the key: a device must not start half-configured.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stanzalink.jid import JID, InvalidJID
from stanzalink.session import KEEPALIVE


class ConfigError(ValueError):
    """The configuration is wrong; the message names the key."""


@dataclass
class DeviceConfig:
    jid: JID
    password: str | None
    resource: str | None = None
    register: bool = False
    host: str | None = None
    port: int = 5222
    direct_tls: bool = False
    ca_file: str | None = None
    require_tls: bool = True
    verify_tls: bool = True
    client_cert: str | None = None
    client_key: str | None = None
    scram_keys_file: str | None = None
    keepalive: float = KEEPALIVE
    keepalive_timeout: float | None = None
    whitespace_keepalive: float | None = None
    stream_management: bool = True
    csi_inactive: bool = True
    status: str = ""
    priority: int = 0
    access: dict[str, list[str]] = field(default_factory=dict)
    http_origin: str | None = None
    files_inbox: str | None = None
    files_export: list[str] = field(default_factory=list)
    log_level: str = "info"
    parser_backend: str | None = None
    # every checked value by section, for the features' own sections
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    base: Path | None = None  # the config file's folder

    def section(self, name: str) -> dict[str, Any]:
        """The checked keys of ``[name]`` (empty when the section is absent)."""
        return self.sections.get(name, {})


def _type(expected: type | tuple[type, ...], what: str) -> Callable[[str, Any], Any]:
    def check(key: str, value: Any) -> Any:
        if isinstance(value, bool) and bool not in (
            expected if isinstance(expected, tuple) else (expected,)
        ):
            raise ConfigError(f"{key}: expected {what}, got {value!r}")
        if not isinstance(value, expected):
            raise ConfigError(f"{key}: expected {what}, got {type(value).__name__} {value!r}")
        return value

    return check


_str = _type(str, "a string")
_bool = _type(bool, "true or false")
_int = _type(int, "an integer")
_num = _type((int, float), "a number")


def _port(key: str, value: Any) -> int:
    v = _int(key, value)
    if not 0 < v < 65536:
        raise ConfigError(f"{key}: {v} is not a TCP port (1-65535)")
    return int(v)


def _positive(key: str, value: Any) -> float:
    v = _num(key, value)
    if v <= 0:
        raise ConfigError(f"{key}: must be greater than 0, got {v}")
    return float(v)


def _count(key: str, value: Any) -> int:
    v = _int(key, value)
    if v < 1:
        raise ConfigError(f"{key}: must be at least 1, got {v}")
    return int(v)


def _text(key: str, value: Any) -> str:
    v = _str(key, value)
    if not v.strip():
        raise ConfigError(f"{key}: must not be empty (leave the key out for the default)")
    return str(v)


def _abs_path(key: str, value: Any) -> str:
    v = _text(key, value)
    if not v.startswith("/"):
        raise ConfigError(f"{key}: {v!r} must be an absolute path")
    return str(v)


def _abs_paths(key: str, value: Any) -> list[str]:
    return [_abs_path(key, v) for v in _str_list(key, value)]


def _jid_text(key: str, value: Any) -> str:
    v = _text(key, value)
    try:
        JID.parse(v)
    except InvalidJID as exc:
        raise ConfigError(f"{key}: {v!r} is not a JID: {exc}") from None
    return str(v)


def _wsgi_spec(key: str, value: Any) -> str:
    v = _text(key, value)
    module, _, attr = v.partition(":")
    if not all(part.isidentifier() for part in module.split(".")) or (
        attr and not attr.isidentifier()
    ):
        raise ConfigError(f"{key}: {v!r} is not like package.module:app")
    return str(v)


def _settable(key: str, value: Any) -> list[str]:
    from stanzalink.commands.settings import check_settable

    v = _str_list(key, value)
    for item in v:
        sec, _, name = item.partition(".")
        if name not in SCHEMA.get(sec, {}):
            raise ConfigError(f"{key}: {item!r} is not a section.key of this file")
        if sec == "account":
            raise ConfigError(f"{key}: {item!r}: [account] is never settable (secrets)")
    try:
        return check_settable(key, v)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _str_list(key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key}: expected a list of strings, got {value!r}")
    return list(value)


def _state_file(key: str, value: Any) -> str:
    """A file the agent writes (it may not exist yet; its folder is checked
    with the rest of [account])."""
    return _text(key, value)


def _file(key: str, value: Any) -> str:
    path = _str(key, value)
    if not Path(path).is_file():
        raise ConfigError(f"{key}: {path} does not exist or is not a file")
    return str(path)


def _choice(*options: str) -> Callable[[str, Any], str]:
    def check(key: str, value: Any) -> str:
        v = _str(key, value)
        if v not in options:
            raise ConfigError(f"{key}: {v!r} is not one of {', '.join(options)}")
        return str(v)

    return check


def _range(low: float, high: float) -> Callable[[str, Any], float]:
    def check(key: str, value: Any) -> float:
        v = _num(key, value)
        if not low <= v <= high:
            raise ConfigError(f"{key}: must be between {low:g} and {high:g}, got {v}")
        return float(v)

    return check


def _int_range(lo: int, hi: int) -> Callable[[str, Any], int]:
    def check(key: str, value: Any) -> int:
        v = _int(key, value)
        if not lo <= v <= hi:
            raise ConfigError(f"{key}: must be between {lo} and {hi}, got {v}")
        return int(v)

    return check


def _photo(key: str, value: Any) -> str:
    from stanzalink.xep.vcard import read_photo

    path = _file(key, value)
    try:
        read_photo(path)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    return path


def _identity_public(key: str, value: Any) -> list[str]:
    from stanzalink.xep.vcard import check_public

    try:
        return check_public(key, value)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _argv(key: str, value: Any) -> list[str]:
    v = _str_list(key, value)
    if not v or not v[0]:
        raise ConfigError(f"{key}: expected a command as a non-empty list of strings")
    return v


def _size(key: str, value: Any) -> int:
    v = _int(key, value)
    if v < 0:
        raise ConfigError(f"{key}: a size in bytes cannot be negative, got {v}")
    return int(v)


def _chunk_size(key: str, value: Any) -> int:
    v = _int(key, value)
    if not 256 <= v <= 65536:
        raise ConfigError(f"{key}: must be between 256 and 65536 bytes (XEP-0332), got {v}")
    return int(v)


def _origin_url(key: str, value: Any) -> str:
    from urllib.parse import urlsplit

    v = _str(key, value)
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


MAX_PASSWORD_FILE = 4096  # bytes: a password file is one line


def _read_password_file(path: str) -> str:
    """The password in ``path``: one line, at most MAX_PASSWORD_FILE bytes,
    UTF-8, no control characters (a file of zeros, as a power cut can
    leave, is refused here rather than sent to the server as a password)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_PASSWORD_FILE + 1)
        text = raw.decode()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ConfigError(f"account.password_file: cannot read {path}: {why}") from None
    if len(raw) > MAX_PASSWORD_FILE:
        raise ConfigError(
            f"account.password_file: {path} is larger than {MAX_PASSWORD_FILE} bytes: "
            "it should hold the password on one line"
        )
    password = text.strip()
    if not password:
        raise ConfigError(f"account.password_file: {path} is empty")
    if any(ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 for ch in password):
        raise ConfigError(
            f"account.password_file: {path} holds control characters (NUL bytes, or more "
            "than one line): it should hold the password on one line"
        )
    return password


# section -> key -> checker
SCHEMA: dict[str, dict[str, Callable[[str, Any], Any]]] = {
    "account": {
        "jid": _str,
        "password": _str,
        "password_file": _file,
        "resource": _text,
        "register": _bool,
        "scram_keys_file": _state_file,
    },
    "server": {
        "host": _text,
        "port": _port,
        "direct_tls": _bool,
        "ca_file": _file,
        "require_tls": _bool,
        "verify_tls": _bool,
        "client_cert": _file,
        "client_key": _file,
    },
    "connection": {
        "keepalive": _positive,
        "keepalive_timeout": _positive,
        "whitespace_keepalive": _positive,
        "stream_management": _bool,
        "csi_inactive": _bool,
        "reconnect_max": _positive,
    },
    "presence": {"status": _str, "priority": _int},
    "access": {
        "admin": _str_list,
        "operator": _str_list,
        "viewer": _str_list,
        "unlisted": _choice("remove", "keep"),
        "notify_admins": _bool,
    },
    "http": {
        "origin": _origin_url,
        "wsgi_app": _wsgi_spec,
        "paths": _role_table,
        "max_request_body": _size,
        "max_response_body": _size,
        "chunk_size": _chunk_size,
        "max_concurrent": _count,
        "timeout": _positive,
    },
    "files": {
        "inbox": _abs_path,
        "export": _abs_paths,
        "max_size": _count,
        "min_free": _size,
        "partial_max_age": _positive,
        "role_put": _choice("admin", "operator", "viewer"),
        "role_get": _choice("admin", "operator", "viewer"),
        "socks5": _bool,
        "socks5_proxy": _jid_text,
        "direct_candidates": _bool,
        "direct_host": _text,
        "dial_direct": _bool,
        "max_transfers": _int_range(1, 256),
        "max_transfers_per_peer": _int_range(1, 64),
    },
    "log": {"level": _choice("debug", "info", "warning", "error")},
    "parser": {"backend": _choice("native", "expat")},
    "identity": {
        "name": _text,
        "nickname": _str,
        "description": _str,
        "model": _str,
        "serial": _str,
        "location": _str,
        "latitude": _range(-90, 90),
        "longitude": _range(-180, 180),
        "url": _str,
        "photo": _photo,
        "public": _identity_public,
        "software_name": _str,
        "os": _str,
        "hide_os": _bool,
        "hide_version": _bool,
        "caps_node": _text,
    },
    "console": {
        "enabled": _bool,
        "banner": _str,
        "page_size": _int_range(1024, 131072),
        "session_timeout": _positive,
        "max_sessions": _int_range(1, 4096),
        "rate": _positive,
        "burst": _int_range(1, 1000),
        "max_jobs": _int_range(1, 64),
        "max_jobs_total": _int_range(1, 256),
        "confirm_timeout": _positive,
        "command_timeout": _positive,
        "max_delay": _range(0, 86400),
        "audit_log": _abs_path,
        "log_file": _abs_path,
        "log_source": _choice("file", "journal"),
        "journal_unit": _text,
        "settable": _settable,
        "disk_paths": _abs_paths,
        "shell": _bool,
        "shell_timeout": _positive,
        "output_limit": _int_range(1024, 1048576),
        "reboot_command": _argv,
        "restart_exit_code": _int_range(1, 255),
        "plugins": _str_list,
    },
    "adhoc": {"max_sessions": _count, "session_timeout": _positive, "reply_within": _positive},
}
# the keys naming a file (read, or written by the agent): relative means from the
# config's folder
_FILE_CHECKS: tuple[Callable[[str, Any], Any], ...] = (_file, _photo, _state_file)


def _beside(base: Path, value: Any) -> Any:
    """A relative file path of the config, as the path from the config
    file's folder (the working directory of a service is not the config's
    folder); anything else as it is, for the key's own check."""
    if isinstance(value, str) and value.strip() and not Path(value).is_absolute():
        return str(base / value)
    return value


def load(path: str | Path) -> DeviceConfig:
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return parse(raw, base=Path(os.path.abspath(path)).parent)


def _ssl_reason(exc: Exception) -> str:
    """OpenSSL's words for a failure, without CPython's source position."""
    text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    return re.sub(r"\s*\(_ssl\.c:\d+\)$", "", text)


class _Encrypted(Exception):
    """The private key asks for a passphrase."""


def _no_passphrase() -> bytes:
    # OpenSSL would otherwise ask on the terminal: a service has none
    raise _Encrypted


def check_tls_files(ca_file: str | None, client_cert: str | None, client_key: str | None) -> None:
    """Load ``[server] ca_file`` and ``client_cert`` / ``client_key`` the way
    the client does before each connection attempt (``ssl``'s default
    context, ``load_cert_chain``), so that a file the running agent could
    not use fails at start and in ``check-config``, naming the key."""
    if ca_file is None and client_cert is None:
        return
    import ssl

    for key, path in (
        ("server.ca_file", ca_file),
        ("server.client_cert", client_cert),
        ("server.client_key", client_key),
    ):
        if path is not None:
            try:
                with open(path, "rb"):
                    pass
            except OSError as exc:
                raise ConfigError(f"{key}: cannot read {path}: {exc.strerror or exc}") from None
    if ca_file is not None:
        try:
            ssl.create_default_context(cafile=ca_file)
        except (ssl.SSLError, ValueError) as exc:
            raise ConfigError(
                f"server.ca_file: {ca_file} is not a PEM certificate file: {_ssl_reason(exc)}"
            ) from None
    if client_cert is None:
        return
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        ctx.load_verify_locations(cafile=client_cert)  # only its certificates
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigError(
            f"server.client_cert: {client_cert} holds no PEM certificate: {_ssl_reason(exc)}"
        ) from None
    key_name, key_path = (
        ("server.client_key", client_key)
        if client_key is not None
        else ("server.client_cert", client_cert)
    )
    try:
        ctx.load_cert_chain(client_cert, client_key, password=_no_passphrase)
    except _Encrypted:
        raise ConfigError(
            f"{key_name}: the private key in {key_path} is encrypted; the agent cannot ask for "
            "its passphrase (store it unencrypted, readable by the agent only)"
        ) from None
    except (ssl.SSLError, ValueError) as exc:
        reason = _ssl_reason(exc)
        if "KEY_VALUES_MISMATCH" in reason:
            raise ConfigError(
                f"{key_name}: the private key in {key_path} does not match the certificate "
                f"in {client_cert}"
            ) from None
        what = "holds no private key" if client_key is None else "is not a PEM private key"
        hint = " (name the key file in server.client_key)" if client_key is None else ""
        raise ConfigError(f"{key_name}: {key_path} {what}{hint}: {reason}") from None


def _check_access(jid: JID, access: dict[str, list[str]], register: bool) -> None:
    from stanzalink.access import check_entries

    try:
        check_entries(jid, access, register)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _did_you_mean(word: str, known: Any) -> str:
    from difflib import get_close_matches

    close = get_close_matches(word, list(known), n=1)
    return f", did you mean {close[0]!r}?" if close else ""


def parse(raw: dict[str, Any], base: Path | None = None) -> DeviceConfig:
    values: dict[str, dict[str, Any]] = {}
    for section, body in raw.items():
        if section not in SCHEMA:
            if not isinstance(body, dict):
                owners = [s for s, keys in SCHEMA.items() if section in keys]
                where = f"; it belongs in {' or '.join(f'[{o}]' for o in owners)}" if owners else ""
                raise ConfigError(f"{section}: a key outside any [section]{where}")
            raise ConfigError(
                f"[{section}]: unknown section{_did_you_mean(section, SCHEMA)}"
                f" (known: {', '.join(SCHEMA)})"
            )
        if not isinstance(body, dict):
            raise ConfigError(f"{section}: expected a [{section}] table")
        for key, value in body.items():
            name = f"{section}.{key}"
            check = SCHEMA[section].get(key)
            if check is None:
                raise ConfigError(
                    f"{name}: unknown key{_did_you_mean(key, SCHEMA[section])}"
                    f" (known in [{section}]: {', '.join(SCHEMA[section])})"
                )
            if base is not None and check in _FILE_CHECKS:
                value = _beside(base, value)
            values.setdefault(section, {})[key] = check(name, value)

    account = values.get("account", {})
    if "jid" not in account:
        raise ConfigError("account.jid: required (the device's bare JID, e.g. device1@example.net)")
    try:
        jid = JID.parse(account["jid"])
    except InvalidJID as exc:
        raise ConfigError(f"account.jid: {exc}") from None
    if jid.local is None or jid.resource is not None:
        raise ConfigError(
            f"account.jid: {account['jid']!r} must be a bare JID like device1@example.net"
        )
    keys_file = account.get("scram_keys_file")
    if keys_file is not None and not Path(keys_file).parent.is_dir():
        raise ConfigError(f"account.scram_keys_file: the folder of {keys_file} does not exist")
    if "password" in account and "password_file" in account:
        raise ConfigError("account.password / account.password_file: give only one of them")
    password: str | None = None
    if "password" not in account and "password_file" not in account:
        if keys_file is None:
            raise ConfigError("account.password / account.password_file: give one of them")
        from stanzalink.session import keystore

        try:
            stored = keystore.load(keys_file, str(jid))
        except (keystore.KeyStoreError, UnicodeDecodeError) as exc:
            raise ConfigError(f"account.scram_keys_file: {keys_file}: {exc}") from None
        if not stored:
            raise ConfigError(
                f"account.scram_keys_file: {keys_file} holds no SCRAM keys for {jid} "
                "and there is no password (give account.password for the first login)"
            )
    elif "password_file" in account:
        password = _read_password_file(account["password_file"])
    else:
        password = account["password"]
    server = values.get("server", {})
    conn = values.get("connection", {})
    if "client_key" in server and "client_cert" not in server:
        raise ConfigError("server.client_key: needs server.client_cert")
    check_tls_files(server.get("ca_file"), server.get("client_cert"), server.get("client_key"))
    roles = ("admin", "operator", "viewer")
    access = {k: v for k, v in values.get("access", {}).items() if k in roles}
    for role, entries in access.items():
        for entry in entries:
            try:
                JID.parse(entry)
            except InvalidJID as exc:
                raise ConfigError(
                    f"access.{role}: {entry!r} is not a JID or domain: {exc}"
                ) from None
    _check_access(jid, access, account.get("register", False))
    presence = values.get("presence", {})
    if not -128 <= presence.get("priority", 0) <= 127:
        raise ConfigError("presence.priority: must be between -128 and 127")
    for spec in values.get("console", {}).get("plugins", []):
        # a plugin file (relative to this file's folder) must exist; a module
        # path is imported at start, and a broken one is logged and skipped
        if spec.endswith(".py") or "/" in spec:
            plugin = Path(spec) if Path(spec).is_absolute() else (base or Path()) / spec
            if not plugin.is_file():
                raise ConfigError(f"console.plugins: {spec}: {plugin} is not a file")
    files = values.get("files", {})
    if "origin" in values.get("http", {}) and "wsgi_app" in values.get("http", {}):
        raise ConfigError("http.origin / http.wsgi_app: give only one of them")
    identity = values.get("identity", {})
    if ("latitude" in identity) != ("longitude" in identity):
        raise ConfigError("identity.latitude / identity.longitude: give both or neither")
    return DeviceConfig(
        jid=jid,
        password=password,
        resource=account.get("resource"),
        register=account.get("register", False),
        host=server.get("host"),
        port=server.get("port", 5222),
        direct_tls=server.get("direct_tls", False),
        ca_file=server.get("ca_file"),
        require_tls=server.get("require_tls", True),
        verify_tls=server.get("verify_tls", True),
        client_cert=server.get("client_cert"),
        client_key=server.get("client_key"),
        scram_keys_file=keys_file,
        keepalive=conn.get("keepalive", KEEPALIVE),
        keepalive_timeout=conn.get("keepalive_timeout"),
        whitespace_keepalive=conn.get("whitespace_keepalive"),
        stream_management=conn.get("stream_management", True),
        csi_inactive=conn.get("csi_inactive", True),
        status=presence.get("status", ""),
        priority=presence.get("priority", 0),
        access=access,
        http_origin=values.get("http", {}).get("origin"),
        files_inbox=files.get("inbox"),
        files_export=files.get("export", []),
        log_level=values.get("log", {}).get("level", "info"),
        parser_backend=values.get("parser", {}).get("backend"),
        sections=values,
        base=base,
    )
