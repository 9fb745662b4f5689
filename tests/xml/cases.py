"""Shared inputs: valid streams and one hostile case per rule in native/README.md."""

from __future__ import annotations

HEADER = (
    b"<?xml version='1.0'?>"
    b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
    b" from='example.net' id='s1' version='1.0' xml:lang='en'>"
)
STANZA = b"<message to='a@example.net' type='chat'><body>hi</body></message>"
CLOSE = b"</stream:stream>"

# (name, bytes inserted after HEADER + STANZA, expected condition)
IN_STREAM: list[tuple[str, bytes, str]] = [
    ("comment", b"<!-- hello -->", "restricted-xml"),
    ("comment-in-stanza", b"<message><!-- x --></message>", "restricted-xml"),
    ("pi", b"<?foo bar?>", "restricted-xml"),
    ("pi-in-stanza", b"<message><?foo?></message>", "restricted-xml"),
    ("entity-in-text", b"<message><body>&nbsp;</body></message>", "restricted-xml"),
    ("entity-in-attr", b"<message to='&foo;'/>", "restricted-xml"),
    ("xml-decl-mid-stream", b"<?xml version='1.0'?>", "not-well-formed"),
    ("doctype-mid-stream", b"<!DOCTYPE foo>", "not-well-formed"),
    ("utf8-invalid-byte", b"<message><body>\xff</body></message>", "not-well-formed"),
    ("utf8-overlong", b"<message><body>\xc0\xaf</body></message>", "not-well-formed"),
    ("utf8-overlong-3", b"<message><body>\xe0\x80\xaf</body></message>", "not-well-formed"),
    ("utf8-surrogate", b"<message><body>\xed\xa0\x80</body></message>", "not-well-formed"),
    ("utf8-above-10ffff", b"<message><body>\xf4\x90\x80\x80</body></message>", "not-well-formed"),
    ("utf8-truncated", b"<message><body>\xe2\x82</body></message>", "not-well-formed"),
    ("utf8-lone-continuation", b"<message><body>\x80</body></message>", "not-well-formed"),
    ("control-char", b"<message><body>\x01</body></message>", "not-well-formed"),
    ("nonchar-fffe", b"<message><body>\xef\xbf\xbe</body></message>", "not-well-formed"),
    ("charref-nul", b"<message><body>&#0;</body></message>", "not-well-formed"),
    ("charref-surrogate", b"<message><body>&#xD800;</body></message>", "not-well-formed"),
    ("charref-too-big", b"<message><body>&#x110000;</body></message>", "not-well-formed"),
    ("charref-fffe", b"<message><body>&#xFFFE;</body></message>", "not-well-formed"),
    ("charref-control-in-attr", b"<message to='&#1;'/>", "not-well-formed"),
    ("control-in-attr", b"<message to='\x01'/>", "not-well-formed"),
    ("bad-utf8-in-attr", b"<message to='\xc3'/>", "not-well-formed"),
    ("bad-utf8-in-name", b"<mess\xffage/>", "not-well-formed"),
    ("bad-name-char", b"<mes\xc2\xa1sage/>", "not-well-formed"),
    ("lt-in-attr", b"<message to='a<b'/>", "not-well-formed"),
    ("unquoted-attr", b"<message to=a/>", "not-well-formed"),
    ("bare-ampersand", b"<message><body>a & b</body></message>", "not-well-formed"),
    ("unbound-element-prefix", b"<foo:message/>", "not-well-formed"),
    ("unbound-attr-prefix", b"<message foo:bar='1'/>", "not-well-formed"),
    ("rebind-xml-prefix", b"<message xmlns:xml='urn:x'/>", "not-well-formed"),
    ("declare-xmlns-prefix", b"<message xmlns:xmlns='urn:x'/>", "not-well-formed"),
    ("bind-xmlns-uri", b"<message xmlns:p='http://www.w3.org/2000/xmlns/'/>", "not-well-formed"),
    (
        "bind-xml-uri-other-prefix",
        b"<message xmlns:p='http://www.w3.org/XML/1998/namespace'/>",
        "not-well-formed",
    ),
    ("undeclare-prefix", b"<message xmlns:p=''/>", "not-well-formed"),
    ("duplicate-attr", b"<message to='a' to='b'/>", "not-well-formed"),
    (
        "duplicate-attr-after-ns",
        b"<message xmlns:a='urn:u' xmlns:b='urn:u' a:x='1' b:x='2'/>",
        "not-well-formed",
    ),
    ("duplicate-nsdecl", b"<message xmlns:a='urn:u' xmlns:a='urn:v'/>", "not-well-formed"),
    ("nested-stream-top", b"<stream:stream/>", "not-well-formed"),
    ("nested-stream-in-stanza", b"<message><stream:stream/></message>", "not-well-formed"),
    ("mismatched-end", b"<message></iq>", "not-well-formed"),
    ("mismatched-end-nested", b"<message><body></message></body>", "not-well-formed"),
    ("text-at-depth-1", b"hello", "not-well-formed"),
    ("charref-at-depth-1", b"&#32;", "not-well-formed"),
    ("entity-at-depth-1", b"&amp;", "not-well-formed"),
    ("cdata-at-depth-1", b"<![CDATA[ ]]>", "not-well-formed"),
    ("bad-cdata", b"<message><![CDAT[x]]></message>", "not-well-formed"),
    ("end-tag-extra", b"</message>", "not-well-formed"),
    ("junk-after-close", CLOSE + b"x", "not-well-formed"),
    ("stanza-after-close", CLOSE + b"<message/>", "not-well-formed"),
    ("comment-after-close", CLOSE + b"<!--x-->", "restricted-xml"),
    ("colon-name", b"<a:b:c xmlns:a='urn:a'/>", "not-well-formed"),
    ("empty-prefix", b"<:message/>", "not-well-formed"),
]

XML_DECL = b"<?xml version='1.0'?>"
OPEN_TAG = b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"

# (name, whole stream start, expected condition); no event precedes the fault
AT_START: list[tuple[str, bytes, str]] = [
    ("utf16le-bom", b"\xff\xfe<\x00?\x00x\x00", "unsupported-encoding"),
    ("utf16be-bom", b"\xfe\xff\x00<\x00?", "unsupported-encoding"),
    ("utf16le-no-bom", b"<\x00?\x00x\x00m\x00", "unsupported-encoding"),
    ("utf16be-no-bom", b"\x00<\x00?\x00x", "unsupported-encoding"),
    ("utf32-bom", b"\x00\x00\xfe\xff\x00\x00\x00<", "unsupported-encoding"),
    ("utf8-bom", b"\xef\xbb\xbf" + XML_DECL + OPEN_TAG, "not-well-formed"),
    (
        "encoding-latin1",
        b"<?xml version='1.0' encoding='ISO-8859-1'?>" + OPEN_TAG,
        "unsupported-encoding",
    ),
    (
        "encoding-utf16",
        b"<?xml version='1.0' encoding='UTF-16'?>" + OPEN_TAG,
        "unsupported-encoding",
    ),
    ("doctype-prolog", XML_DECL + b"<!DOCTYPE stream:stream>" + OPEN_TAG, "restricted-xml"),
    (
        "doctype-internal-subset",
        XML_DECL + b"<!DOCTYPE s [<!ENTITY x 'y'>]>" + OPEN_TAG,
        "restricted-xml",
    ),
    ("comment-prolog", XML_DECL + b"<!-- hi -->" + OPEN_TAG, "restricted-xml"),
    ("pi-prolog", XML_DECL + b"<?foo?>" + OPEN_TAG, "restricted-xml"),
    ("space-before-xml-decl", b" " + XML_DECL + OPEN_TAG, "not-well-formed"),
    ("text-before-header", b"hello" + OPEN_TAG, "not-well-formed"),
    ("wrong-root", b"<foo xmlns='jabber:client'>", "invalid-namespace"),
    (
        "stream-wrong-namespace",
        b"<stream:stream xmlns:stream='urn:wrong' xmlns='jabber:client'>",
        "invalid-namespace",
    ),
    ("stream-no-namespace", b"<stream xmlns=''>", "invalid-namespace"),
    ("stream-default-ns-streams", b"<stream xmlns='http://etherx.jabber.org/streams'><a/>", None),
    ("bad-xml-decl", b"<?xml version='1.0' standalone='maybe'?>" + OPEN_TAG, "not-well-formed"),
]

# valid streams that exercise decoding; each must parse without error
VALID: list[tuple[str, bytes]] = [
    (
        "entities-and-refs",
        b"<message><body>&amp;&lt;&gt;&quot;&apos; &#65;&#x42;&#x1F600; caf\xc3\xa9"
        b"</body></message>",
    ),
    (
        "refs-in-attrs",
        b"<message id='a&amp;b' to=\"x&lt;y&gt;z\"><x xmlns='urn:t' v='&#x1F680;\xf0\x9f\x9a\x80"
        b"&#10;&#9;&quot;&apos;' w='&#233;t&#xE9;'/><y a='&amp;&amp;' b='&#65;'/></message>",
    ),
    ("cdata", b"<message><body>a<![CDATA[<b>&amp;]]>c</body></message>"),
    ("cdata-empty", b"<message><body><![CDATA[]]></body></message>"),
    ("crlf-text", b"<message><body>a\r\nb\rc\n\rd</body></message>"),
    ("cr-before-markup", b"<message><body>\r</body>\n<x>\r<y/>\n</x><![CDATA[\r]]>\n</message>"),
    ("crlf-attr", b"<message id='a\r\nb\tc\nd\re' to='&#10;&#13;&#9;x'/>"),
    ("attr-quotes", b"<message id=\"a'b\" to='c\"d' type = 'chat' />"),
    ("xml-lang", b"<message xml:lang='de'><body xml:lang='fr'>x</body></message>"),
    (
        "prefixes",
        b"<p:message xmlns:p='jabber:client' xmlns:q='urn:q' q:a='1' b='2'>"
        b"<q:x><y/></q:x><z xmlns=''/></p:message>",
    ),
    ("default-ns-override", b"<iq><query xmlns='jabber:iq:roster'><item jid='a@b'/></query></iq>"),
    ("mixed-content", b"<message><body>a<b>bold</b>tail<i/>t2</body></message>"),
    ("whitespace-text", b"<message>\n  <body>x</body>\n</message>"),
    ("multibyte-names", b"<message><caf\xc3\xa9 \xe6\x97\xa5='1'/></message>"),
    ("gt-in-attr", b"<message id='a>b' to='c/>'/>"),
    ("end-tag-space", b"<message  ><body >x</body   ></message\n>"),
    ("keepalive", b" \n\t\r <message/> \n"),
    ("empty-stanza", b"<presence/>"),
]
