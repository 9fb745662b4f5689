"""`stanzalink http`: one XEP-0332 request to a device, as a controller."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stanzalink.aio.client import Client

DISCO_INFO = "http://jabber.org/protocol/disco#info"
HTTP = "urn:xmpp:http"


async def refusal_hint(
    client: Client, device: str, path: str, me: str, timeout: float = 10.0
) -> str:
    """Why the device answered ``service-unavailable``, asked as far as a
    controller may: a device answers a sender it does not admit, an absent
    resource, a path beyond the sender's role and an HTTP service that is
    off all alike.  Its disco#info tells the first two (no answer) from the
    others: it answers everyone in its [access], and lists urn:xmpp:http
    while it serves HTTP; then the path's role ([http] paths) refused.
    The question waits ``timeout`` seconds at most (the command's, up to
    10); an answer that holds no disco#info says only that."""
    from stanzalink.aio.client import ConnectionFailed, IQError
    from stanzalink.xml.builder import E

    iq = E("{jabber:client}iq", {"type": "get", "to": device}, E(f"{{{DISCO_INFO}}}query"))
    try:
        reply = await client.iq(iq, min(timeout, 10.0))
    except (IQError, TimeoutError, ConnectionFailed):
        return f" (is the device online as {device}, and is {me} in its [access]?)"
    query = reply.find(f"{{{DISCO_INFO}}}query")
    if query is None:
        return f" ({device} answered disco#info without its features: is it a stanzalink device?)"
    features = {f.get("var") for f in query.findall(f"{{{DISCO_INFO}}}feature")}
    if HTTP not in features:
        return " (the device serves no HTTP: its [http] origin is not set)"
    return (
        f" (refused by the device's [http] paths: {path} needs a higher role than {me} "
        "has in its [access]; paths no rule names need operator)"
    )


def cmd_http(args: argparse.Namespace) -> int:
    """XEP-0332 request as a controller; prints the response like curl -i."""
    import asyncio
    import logging

    from stanzalink.agent import client_config, load_config
    from stanzalink.aio.client import Client, ConnectionFailed
    from stanzalink.config import ConfigError
    from stanzalink.fleet.http_client import HttpClient, HttpTransportError
    from stanzalink.jid import JID, InvalidJID
    from stanzalink.logsafe import SafeFormatter

    # the outcome is one line on stderr; -v shows the connection's log as well
    stderr = logging.StreamHandler()
    stderr.setFormatter(SafeFormatter("stanzalink http: %(message)s"))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.CRITICAL, handlers=[stderr])
    try:
        device = JID.parse(args.jid)
    except InvalidJID as exc:
        print(f"stanzalink http: {args.jid!r} is not a JID: {exc}", file=sys.stderr)
        return 2
    if device.resource is None:
        print(
            f"stanzalink http: {args.jid} is a bare JID; give the device's full JID "
            f"({args.jid}/RESOURCE: the resource in its [account], or ask its console "
            "for 'status')",
            file=sys.stderr,
        )
        return 2
    if not (args.path.startswith("/") or args.path == "*"):
        print(f"stanzalink http: PATH {args.path!r} must start with /", file=sys.stderr)
        return 2
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"stanzalink: {args.config}: {exc}", file=sys.stderr)
        return 2
    headers: list[tuple[str, str]] = []
    for item in args.header:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            print(f"stanzalink http: --header {item!r}: expected NAME:VALUE", file=sys.stderr)
            return 2
        headers.append((name.strip(), value.strip()))
    body = b""
    if args.data is not None:
        if args.data == "@-":
            body = sys.stdin.buffer.read()
        elif args.data.startswith("@"):
            try:
                with open(args.data[1:], "rb") as fh:
                    body = fh.read()
            except OSError as exc:
                print(f"stanzalink http: --data {args.data}: {exc}", file=sys.stderr)
                return 2
        else:
            body = args.data.encode()
    ccfg = client_config(cfg)
    ccfg.resource = cfg.section("account")["resource"] or "http-" + os.urandom(4).hex()
    ccfg.reconnect = False
    ccfg.csi_inactive = False
    out = sys.stdout.buffer

    async def run() -> int:
        client = Client(ccfg)
        try:
            await client.start()
            await client.wait_online(args.timeout)
            http = HttpClient(client, timeout=args.timeout, chunk_timeout=args.timeout)
            resp = await http.request(str(device), args.method.upper(), args.path, headers, body)
            head = [f"HTTP/{resp.version} {resp.status} {resp.reason}".rstrip()]
            head += [f"{k}: {v}" for k, v in resp.headers]
            out.write(("\r\n".join(head) + "\r\n\r\n").encode("utf-8", "replace"))
            async for part in resp.body_stream:
                out.write(part)
            out.flush()
            return 0
        except BrokenPipeError:  # | head: the reader has seen enough
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except (ConnectionFailed, HttpTransportError, TimeoutError, ValueError) as exc:
            out.flush()
            hint = ""
            if getattr(exc, "condition", None) == "service-unavailable" and device.resource:
                hint = await refusal_hint(
                    client, str(device), args.path, str(cfg.jid), args.timeout
                )
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                hint = " (a private CA? name it in [server] ca_file)"
            print(f"stanzalink http: {exc or type(exc).__name__}{hint}", file=sys.stderr)
            return 1
        finally:
            await client.close()

    return asyncio.run(run())
