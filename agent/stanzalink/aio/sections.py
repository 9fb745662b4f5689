"""The sections of the connection, declared by the layer that uses them:
``[account]``, ``[server]``, ``[connection]`` and ``[parser]``.  Their
defaults are the client's own (:class:`~stanzalink.aio.client.ClientConfig`),
read by name, so a default is written once.  The ``[account]`` check also
derives the device's JID and password (:func:`account`), the ``[server]``
check loads the TLS files the way the client will.
"""

from __future__ import annotations

import re
from typing import Any

from stanzalink.aio.client import ClientConfig
from stanzalink.config import (
    Checking,
    ConfigError,
    DeviceConfig,
    Key,
    Section,
    boolean,
    choice,
    count,
    file,
    num_range,
    port,
    positive,
    state_file,
    string,
    text,
)
from stanzalink.jid import JID, InvalidJID

# the client's defaults, for the keys that leave them out
_CLIENT = ClientConfig(JID.parse("device@example.net"))


def account(values: dict[str, Any]) -> tuple[JID, str | None]:
    """The device's bare JID and its password (None: the SCRAM keys of
    ``scram_keys_file`` log in) from checked ``[account]`` values."""
    if values.get("jid") is None:
        raise ConfigError("account.jid: required (the device's bare JID, e.g. device1@example.net)")
    try:
        jid = JID.parse(values["jid"])
    except InvalidJID as exc:
        raise ConfigError(f"account.jid: {exc}") from None
    if jid.local is None or jid.resource is not None:
        raise ConfigError(
            f"account.jid: {values['jid']!r} must be a bare JID like device1@example.net"
        )
    keys_file = values.get("scram_keys_file")
    if keys_file is not None:
        from pathlib import Path  # with a keys file only (it imports urllib.parse)

        if not Path(keys_file).parent.is_dir():
            raise ConfigError(f"account.scram_keys_file: the folder of {keys_file} does not exist")
    password, password_file = values.get("password"), values.get("password_file")
    if password is not None and password_file is not None:
        raise ConfigError("account.password / account.password_file: give only one of them")
    if password is None and password_file is None:
        if keys_file is None:
            raise ConfigError("account.password / account.password_file: give one of them")
        from stanzalink.session import keystore  # only with a keys file and no password

        try:
            stored = keystore.load(keys_file, str(jid))
        except (keystore.KeyStoreError, UnicodeDecodeError) as exc:
            raise ConfigError(f"account.scram_keys_file: {keys_file}: {exc}") from None
        if not stored:
            raise ConfigError(
                f"account.scram_keys_file: {keys_file} holds no SCRAM keys for {jid} "
                "and there is no password (give account.password for the first login)"
            )
        return jid, None
    if password_file is not None:
        # loaded only with account.password_file
        from stanzalink.aio.password_file import read_password_file

        return jid, read_password_file(password_file)
    return jid, password


def _check_account(values: dict[str, Any], checking: Checking) -> None:
    account(values)


ACCOUNT = Section(
    "account",
    {
        "jid": Key(string, doc="the device's bare JID (required)"),
        "password": Key(string, doc="or password_file (one of the two)"),
        "password_file": Key(file, file=True, doc="a file holding the password on one line"),
        "resource": Key(text, _CLIENT.resource, "the server assigns one when absent"),
        "register": Key(boolean, _CLIENT.register, "XEP-0077 in-band registration"),
        "scram_keys_file": Key(state_file, _CLIENT.scram_keys_file, "keep SCRAM keys", file=True),
    },
    _check_account,
)


def _hosts(key: str, value: Any) -> list[str]:
    # loaded only when [server] hosts is given
    from stanzalink.aio.hostport import check_hosts

    return check_hosts(key, value)


def _check_server(values: dict[str, Any], checking: Checking) -> None:
    if values["hosts"] is not None and values["host"] is not None:
        raise ConfigError(
            "server.host / server.hosts: give only one of them (hosts lists every "
            "server address to try, host one)"
        )
    if values["hosts"] is not None:
        # loaded only when [server] hosts is given
        from stanzalink.aio.hostport import check_hosts_once

        check_hosts_once(values["hosts"], values["port"])
    if values["client_key"] is not None and values["client_cert"] is None:
        raise ConfigError("server.client_key: needs server.client_cert")
    check_tls_files(values["ca_file"], values["client_cert"], values["client_key"])


SERVER = Section(
    "server",
    {
        "host": Key(text, _CLIENT.host, "SRV lookup on the JID's domain when absent"),
        "port": Key(port, _CLIENT.port, "used with host, and hosts without a port"),
        "hosts": Key(_hosts, None, "failover candidates host[:port], instead of host"),
        "direct_tls": Key(boolean, _CLIENT.direct_tls, "XEP-0368"),
        "ca_file": Key(file, _CLIENT.ca_file, "CA bundle (PEM); system store when absent", True),
        "require_tls": Key(boolean, _CLIENT.require_tls, "refuse a server without STARTTLS"),
        "verify_tls": Key(boolean, _CLIENT.verify_tls, "false: no certificate checks"),
        "client_cert": Key(file, _CLIENT.client_cert, "client certificate (PEM)", True),
        "client_key": Key(file, _CLIENT.client_key, "its private key", True),
    },
    _check_server,
)

CONNECTION = Section(
    "connection",
    {
        "keepalive": Key(positive, _CLIENT.keepalive, "seconds before a sign of life is asked"),
        "keepalive_timeout": Key(
            positive, _CLIENT.keepalive_timeout, "default: 120 s, at most keepalive"
        ),
        "whitespace_keepalive": Key(positive, _CLIENT.whitespace_keepalive, "off when absent"),
        "stream_management": Key(boolean, _CLIENT.stream_management, "XEP-0198"),
        "csi_inactive": Key(boolean, _CLIENT.csi_inactive, "XEP-0352"),
        "reconnect_max": Key(
            num_range(1, 86400), _CLIENT.backoff_cap, "longest wait between attempts, 1 s to a day"
        ),
        "reconnect_spread": Key(
            num_range(0, 3600), _CLIENT.reconnect_spread, "first wait after a lost link, at most"
        ),
        "tcp_keepalive": Key(boolean, _CLIENT.tcp_keepalive, "the kernel's TCP keepalive"),
        "tcp_keepalive_idle": Key(count, _CLIENT.tcp_keepalive_idle, "seconds idle to a probe"),
        "tcp_keepalive_interval": Key(count, _CLIENT.tcp_keepalive_interval, "between probes"),
        "tcp_keepalive_count": Key(count, _CLIENT.tcp_keepalive_count, "unanswered: dead link"),
    },
)

PARSER = Section(
    "parser",
    {
        "backend": Key(
            choice("native", "expat"), _CLIENT.parser_backend, "default native when built"
        )
    },
)

SECTIONS = (ACCOUNT, SERVER, CONNECTION, PARSER)
# what a process running a client logs (a device, or the fleet tool)
LOG = Section("log", {"level": Key(choice("debug", "info", "warning", "error"), "info")})


def client_config(cfg: DeviceConfig, **override: Any) -> ClientConfig:
    """The client settings of a checked config: its ``[account]``,
    ``[server]``, ``[connection]`` and ``[parser]``; ``override``: settings
    the caller decides (the fleet tool: no reconnect)."""
    account = ACCOUNT.of(cfg)
    server = SERVER.of(cfg)
    conn = CONNECTION.of(cfg)
    settings: dict[str, Any] = {
        "resource": account["resource"],
        "register": account["register"],
        "require_tls": server["require_tls"],
        "stream_management": conn["stream_management"],
        "csi_inactive": conn["csi_inactive"],
        "keepalive": conn["keepalive"],
        "keepalive_timeout": conn["keepalive_timeout"],
        "whitespace_keepalive": conn["whitespace_keepalive"],
        "host": server["host"],
        "port": server["port"],
        "hosts": server["hosts"],
        "direct_tls": server["direct_tls"],
        "ca_file": server["ca_file"],
        "verify_tls": server["verify_tls"],
        "client_cert": server["client_cert"],
        "client_key": server["client_key"],
        "scram_keys_file": account["scram_keys_file"],
        "parser_backend": PARSER.of(cfg)["backend"],
        "backoff_cap": float(conn["reconnect_max"]),
        "reconnect_spread": float(conn["reconnect_spread"]),
        **{k: v for k, v in conn.items() if k.startswith("tcp_keepalive")},
    }
    settings.update(override)
    return ClientConfig(jid=cfg.jid, password=cfg.password, **settings)


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
