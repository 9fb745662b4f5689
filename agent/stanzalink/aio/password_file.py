"""``[account] password_file``: the password read from a file of one
line.  Loaded only when the config names one: a device given its password
in the config never holds this code."""

from __future__ import annotations

from stanzalink.config import ConfigError

MAX_PASSWORD_FILE = 4096  # bytes: a password file is one line


def read_password_file(path: str) -> str:
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
