"""The ``[files]`` section: file transfer (Jingle, XEP-0234) and the
transports it rides on, in-band and SOCKS5 (XEP-0065 and XEP-0260 share one
dial policy).  One section, one owner: the features that read it import it
from here."""

from __future__ import annotations

from stanzalink.config import (
    Key,
    Section,
    abs_path,
    abs_paths,
    boolean,
    choice,
    count,
    int_range,
    jid_text,
    positive,
    size,
    text,
)

_ROLE = choice("admin", "operator", "viewer")

FILES = Section(
    "files",
    {
        "inbox": Key(abs_path, None, "where received files land; none: no puts"),
        "export": Key(abs_paths, [], "what controllers may fetch"),
        "max_size": Key(count, 1 << 30, "largest file accepted, bytes"),
        "min_free": Key(size, 64 << 20, "bytes of free space a transfer must leave"),
        "partial_max_age": Key(positive, 86400.0, "seconds a cut-off transfer is kept"),
        "role_put": Key(_ROLE, "operator", "least role that may put files"),
        "role_get": Key(_ROLE, "viewer", "least role that may fetch files"),
        "socks5": Key(boolean, False, "offer/accept SOCKS5 (XEP-0260)"),
        "socks5_proxy": Key(jid_text, None, "the proxy's JID; default: found by disco"),
        "direct_candidates": Key(boolean, False, "also offer a direct connection"),
        "direct_host": Key(text, "127.0.0.1", "the address listened on and offered then"),
        "dial_direct": Key(boolean, False, "also dial the candidates a peer names"),
        "max_transfers": Key(int_range(1, 256), 16, "transfers at once, both ways"),
        "max_transfers_per_peer": Key(int_range(1, 64), 4, "... with one account"),
    },
)
