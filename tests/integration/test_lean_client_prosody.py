"""A session client logged in to a real Prosody and idle loads only what
its login used: no ElementTree (the session writes its own IQs as bytes and
reads simple paths), no SRV resolver (the server's host is given), no
in-band registration and no password change, no pure-Python receive ring
when the native one is built, no code for decoding a stanza whole, none for
a stream's end, none for IQs or stanzas (it sent, served and received
none), no serializer or builder (it wrote its own bytes), no SASLprep
tables (ASCII credentials), no ``idna`` codec (an ASCII domain), no SCRAM
key store (no keys file).  Given its server by name rather than address,
it looks the name up without the codec and in a thread that ends with the
lookup: no more modules, and only the main thread left.  (The memory this
saves is measured in
``bench/bench_memory.py``.)"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from stanzalink.xml import _native
from stanzalink_testing.prosody import Prosody

from ..util import python_cmd
from .peers import new_account

pytestmark = pytest.mark.integration
AGENT_DIR = str(Path(__file__).resolve().parents[2] / "agent")

CLIENT = textwrap.dedent(
    """
    import asyncio, sys, threading
    from stanzalink.aio.client import Client, ClientConfig
    from stanzalink.jid import JID
    async def main():
        c = Client(ClientConfig(jid=JID.parse(sys.argv[1]), password=sys.argv[2],
                   host=sys.argv[5], port=int(sys.argv[3]), ca_file=sys.argv[4], reconnect=False))
        await c.start()
        await c.wait_online(60)
        await asyncio.sleep(1)
        print(threading.active_count(), flush=True)
        print(" ".join(sorted(sys.modules)), flush=True)
        await c.close()
    asyncio.run(main())
    """
)

NOT_LOADED = [
    "xml.etree.ElementTree",
    "xml.etree.ElementPath",
    "pyexpat",
    "stanzalink.aio.dns",
    "stanzalink.session.register",
    "stanzalink.session.password",
    "stanzalink.session.account_events",
    "stanzalink.aio.account",
    "hashlib",  # SCRAM hashes with OpenSSL's binding (stanzalink.digest)
    "hmac",
    "stanzalink.xml.decoded",  # loaded by a stanza's first full read
    "stanzalink.session.stream_errors",  # how a stream ends, input not expected
    "stanzalink.aio.iq",  # loaded with the first IQ sent, served or answered
    "stanzalink.session.online",  # loaded with the first stanza once online
    "stanzalink.xml.serializer",  # loaded with the first element serialized
    "stanzalink.xml.builder",  # loaded with the first element built
    "stanzalink.session.saslprep",  # SASLprep of a string that is not ASCII
    "stanzalink.session.keystore",  # SCRAM keys kept only with a keys file
    # the idna codec and what it loads: an ASCII domain goes to ssl as bytes
    "encodings.idna",
    "stringprep",
    "unicodedata",
    # asyncio's thread pool, which would look a name up and keep its thread
    "concurrent.futures.thread",
    "queue",
]
# the pure-Python receive ring, where the native module is built
if _native.AVAILABLE:
    NOT_LOADED.append("stanzalink.xml.ring")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_an_idle_client_loads_only_its_login(prosody: Prosody, host: str) -> None:
    jid, pw = new_account(prosody, "lean")
    out = subprocess.run(
        [*python_cmd(), "-c", CLIENT, jid, pw, str(prosody.port), str(prosody.ca), host],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": AGENT_DIR},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    threads, modules = out.stdout.splitlines()
    loaded = set(modules.split())
    assert "stanzalink.session.negotiation" in loaded  # it did log in (wait_online)
    assert sorted(set(NOT_LOADED) & loaded) == []
    # the lookups' code loads for a name only
    assert ("stanzalink.aio.resolve" in loaded) is (host == "localhost")
    assert threads == "1"  # no thread left from connecting, by name or not
