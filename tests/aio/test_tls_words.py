"""A connection's end in words: TLS noise is translated and demoted."""

from __future__ import annotations

import ssl

from stanzalink.aio.tls import ending_in_words


def test_data_after_close_notify_is_translated_and_only_noise() -> None:
    exc = ssl.SSLError(
        1,
        "[SSL: APPLICATION_DATA_AFTER_CLOSE_NOTIFY] application data after close notify "
        "(_ssl.c:2706)",
    )
    words, noise = ending_in_words(exc)
    assert noise and "APPLICATION_DATA" not in words
    assert words.startswith("the server ended TLS and then sent more data")


def test_an_eof_inside_tls_is_translated() -> None:
    exc = ssl.SSLEOFError(8, "[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred (_ssl.c:992)")
    words, noise = ending_in_words(exc)
    assert noise and words.startswith("the server closed the connection without ending TLS")


def test_other_errors_keep_their_words_without_the_source_position() -> None:
    words, noise = ending_in_words(
        ssl.SSLError(1, "[SSL: BAD_RECORD_MAC] bad record mac (_ssl.c:2580)")
    )
    assert not noise and words == "[SSL: BAD_RECORD_MAC] bad record mac"
    words, noise = ending_in_words(ConnectionResetError(104, "Connection reset by peer"))
    assert not noise and words == "[Errno 104] Connection reset by peer"
