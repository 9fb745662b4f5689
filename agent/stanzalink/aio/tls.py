"""TLS for the client: the context it connects with, and the channel
bindings the session may use."""

from __future__ import annotations

import logging
import os
import re
import ssl

from stanzalink.aio.config import ClientConfig
from stanzalink.session.core import TLSInfo

__all__ = ["server_end_point", "server_name", "ssl_context", "tls_info"]

log = logging.getLogger("stanzalink.aio.client")  # the client's log lines keep one name


def ssl_context(c: ClientConfig) -> ssl.SSLContext:
    """The context for direct TLS or STARTTLS: TLS 1.2 or later, the CA
    file or the system's, the client certificate when configured.

    With no CA file the system's CAs are trusted, looked up lazily where
    the system has a hashed directory (``/etc/ssl/certs``, kept by
    ``update-ca-certificates`` or ``openssl rehash``): OpenSSL then loads
    only the CA a chain names, by its subject hash, when it verifies.
    ``load_default_certs`` parses the whole bundle file up front, for every
    context (one per connection attempt): on Debian 12 that is 144
    certificates, 1.3 MiB of RSS and 22 ms of CPU a context, against 0.2 ms
    for the lazy one; a connected idle client is 0.85 MiB smaller for it.
    An explicit ``SSL_CERT_FILE`` is the operator's choice and is loaded as
    before; a system with no hashed directory (a bundle file only) loads
    the bundle.  A directory ``SSL_CERT_DIR`` names adds to the system's
    CAs, as it did beside the bundle: the system's hashed directory is
    looked up after it."""
    if not c.ca_file:
        dirs = _ca_dirs()
        if dirs:
            ctx = ssl.create_default_context(capath=dirs[0])
            for more in dirs[1:]:
                ctx.load_verify_locations(capath=more)
        else:
            ctx = ssl.create_default_context()  # load_default_certs: the bundle
    else:
        ctx = ssl.create_default_context(cafile=c.ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if c.tls_max_version:
        ctx.maximum_version = {
            "TLSv1.2": ssl.TLSVersion.TLSv1_2,
            "TLSv1.3": ssl.TLSVersion.TLSv1_3,
        }[c.tls_max_version]
    if not c.verify_tls:
        log.warning(
            "TLS CERTIFICATE VERIFICATION IS OFF (server.verify_tls = false): "
            "anyone on the path can impersonate the server and read the password"
        )
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if c.client_cert:
        ctx.load_cert_chain(c.client_cert, c.client_key)
    return ctx


_HASH_NAME = re.compile(r"[0-9a-f]{8}\.[0-9]+")  # a CA by its subject hash: 3513523f.0


def _ca_dirs() -> list[str]:
    """The hashed directories to look the system's CAs up in, or none when
    the bundle is to be loaded (``SSL_CERT_FILE`` set, or a directory
    without hash names).  ``load_default_certs`` trusts the bundle file and
    the directory ``SSL_CERT_DIR`` names (else the system's): with a
    directory of its own the environment takes nothing away, so the
    system's hashed directory, the bundle's counterpart, comes after it
    (where the system has a bundle file at all)."""
    paths = ssl.get_default_verify_paths()
    if paths.openssl_cafile_env in os.environ or not paths.capath:
        return []
    dirs = [paths.capath]  # SSL_CERT_DIR's, or the system's
    system = paths.openssl_capath
    if os.path.realpath(system) != os.path.realpath(paths.capath) and os.path.isfile(
        paths.openssl_cafile  # no bundle file: the environment's directory was all
    ):
        dirs.append(system)
    return dirs if all(_hashed(d) for d in dirs) else []


def _hashed(capath: str) -> bool:
    """Whether ``capath`` holds a CA under its OpenSSL hash name (the scan
    stops at the first one).  A hash name whose link leads nowhere does not
    count: a system whose CA files were pruned, their bundle kept, keeps
    the bundle."""
    try:
        with os.scandir(capath) as entries:
            return any(_HASH_NAME.fullmatch(e.name) and e.is_file() for e in entries)
    except OSError:
        return False


def server_name(domain: str) -> str | bytes:
    """The name the certificate is checked against and sent in SNI: the
    JID's domain.  An ASCII domain (an A-label domain, or an IP address) goes
    as bytes: the ``ssl`` module takes those as they are, where a ``str``
    goes through the ``idna`` codec, which loads ``stringprep`` and
    ``unicodedata`` (about 0.2 MiB) to check label lengths that
    :mod:`stanzalink.jid` has already checked.  Any other domain goes as a
    ``str``, through the codec."""
    return domain.encode("ascii") if domain.isascii() else domain


def tls_info(ssl_object: ssl.SSLObject | ssl.SSLSocket, client_cert: bool) -> TLSInfo:
    """Channel bindings the session may use (RFC 5929, RFC 9266)."""
    version = ssl_object.version() or ""
    bindings: dict[str, bytes] = {}
    if version in ("TLSv1", "TLSv1.1", "TLSv1.2"):
        unique = ssl_object.get_channel_binding("tls-unique")
        if unique:
            bindings["tls-unique"] = unique
    der = ssl_object.getpeercert(binary_form=True)
    if der:
        bindings["tls-server-end-point"] = server_end_point(der)
    return TLSInfo(version=version, channel_bindings=bindings, client_certificate=client_cert)


def server_end_point(der: bytes) -> bytes:
    """RFC 5929 §4.1: the certificate hashed with its signature's hash
    (SHA-256 when that is MD5 or SHA-1)."""
    from stanzalink.session.sasl import tls_server_end_point

    return tls_server_end_point(der)


# OpenSSL's reasons for a connection's end that say nothing a person must act
# on, in words; the connection is re-made either way
_TLS_ENDINGS = {
    "APPLICATION_DATA_AFTER_CLOSE_NOTIFY": (
        "the server ended TLS and then sent more data (a server that shuts down or "
        "restarts does this); nothing to do, the device reconnects"
    ),
    "UNEXPECTED_EOF_WHILE_READING": (
        "the server closed the connection without ending TLS first (a server or a "
        "middlebox that dropped it); nothing to do, the device reconnects"
    ),
}


def ending_in_words(exc: BaseException) -> tuple[str, bool]:
    """Why a connection ended, as a person reads it, and whether it is only
    noise (a TLS ending that needs nothing from anyone: logged at debug)."""
    text = str(exc)
    if isinstance(exc, ssl.SSLError):
        reason = getattr(exc, "reason", None) or ""
        for name, words in _TLS_ENDINGS.items():
            if reason == name or f"[SSL: {name}]" in text:
                return words, True
        text = re.sub(r"\s*\(_ssl\.c:\d+\)$", "", text)
    return text, False
