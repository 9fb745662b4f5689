"""``stanzalink run --config FILE`` with the default config, logged in to a
real Prosody and idle, has never loaded what only other paths need:

- argparse (nor gettext, nor the other commands' modules): the command
  line every device runs is read without them;
- tomllib and datetime (neither the module nor its C part): the config is
  read before any thread starts, with tomllib loaded for the read only and
  a stand-in for datetime's classes, which a config without dates never
  uses;
- dataclasses: no module of the idle path declares one;
- the idna codec (with stringprep and unicodedata): the server's name goes
  to ssl as bytes;
- the vCard feature: ``[identity]`` sets none of its keys;
- the service manager's notifier: no ``NOTIFY_SOCKET``;
- the SCRAM key store (no keys file).

The agent would keep any of them for its whole life.  (The memory this saves
is measured in ``bench/bench_memory.py``.)"""

from __future__ import annotations

import json
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from stanzalink_testing.prosody import Prosody

from ..util import agent_pythonpath, python_cmd
from .peers import new_account

pytestmark = pytest.mark.integration

# `stanzalink` with the words given, in this process; SIGUSR1 prints what is
# loaded and ends it with status 0 (a signal, not a thread: a thread running
# at start would change what the config loads)
RUN = textwrap.dedent(
    """
    import json, os, signal, sys
    def dump(signum, frame):
        loaded = sorted(sys.modules)  # before this handler's own import
        import dataclasses
        declaring = sorted(
            name for name, m in list(sys.modules.items())
            if name.startswith("stanzalink") and any(
                dataclasses.is_dataclass(v) and getattr(v, "__module__", None) == name
                for v in list(vars(m).values()))
        )
        dt = sys.modules.get("datetime")
        print(json.dumps({"modules": loaded, "datetime": repr(dt), "declaring": declaring}))
        sys.stdout.flush()
        os._exit(0)
    signal.signal(signal.SIGUSR1, dump)
    from stanzalink.cli import main
    sys.argv = ["stanzalink", *sys.argv[1:]]
    sys.exit(main())
    """
)

NOT_LOADED = [
    "argparse",
    "gettext",
    "stanzalink.cli.parser",
    "stanzalink.cli.config_commands",
    "stanzalink.cli.syslog_handler",
    "stanzalink.cli.dump",
    "stanzalink.cli.http",
    "stanzalink.cli.simulate",
    "stanzalink.fleet.cli",
    "tomllib",
    "tomllib._parser",
    "datetime",
    "_datetime",
    "dataclasses",
    "encodings.idna",
    "stringprep",
    "unicodedata",
    "stanzalink.xep.vcard",
    "stanzalink.xep.photo",
    "stanzalink.aio.sdnotify",
    "stanzalink.aio.hostport",
    "stanzalink.aio.password_file",
    # SCRAM keys are kept only with account.scram_keys_file
    "stanzalink.session.keystore",
    # SCRAM, the channel binding and the caps hash use OpenSSL's binding
    # (stanzalink.digest); hashlib would also load _blake2
    "hashlib",
    "hmac",
    "_blake2",
    # the server is given by address: no name to look up
    "stanzalink.aio.resolve",
    # the in-band password change and registration load when they begin
    "stanzalink.session.password",
    "stanzalink.session.register",
    "stanzalink.session.account_events",
    "stanzalink.aio.account",
]


def test_an_idle_default_agent_never_loaded_what_only_other_paths_need(
    prosody: Prosody, tmp_path: Path
) -> None:
    dev, pw = new_account(prosody, "device")
    admin, _ = new_account(prosody, "alice")
    cfg = tmp_path / "device.toml"
    cfg.write_text(
        f'[account]\njid = "{dev}"\npassword = "{pw}"\nresource = "agent"\n'
        f'[server]\nhost = "127.0.0.1"\nport = {prosody.port}\nca_file = "{prosody.ca}"\n'
        f'[access]\nadmin = ["{admin}"]\n'
    )
    log = tmp_path / "stderr"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [*python_cmd(), "-c", RUN, "run", "--config", str(cfg), "--log-level=info"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={"PYTHONPATH": agent_pythonpath()},
        )
    try:
        deadline = time.monotonic() + 60
        while " online as " not in log.read_text() and proc.poll() is None:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.05)
        time.sleep(2)  # roster, probes, presence, caps query, vCard: idle
        proc.send_signal(signal.SIGUSR1)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0 and " online as " in log.read_text(), log.read_text()[-3000:]
    seen = json.loads(out)
    loaded = set(seen["modules"])
    # the agent's own modules are there
    assert {"stanzalink.xep.caps", "stanzalink.config", "stanzalink.xep.roster"} <= loaded
    assert sorted(set(NOT_LOADED) & loaded) == [], seen["datetime"]
    assert seen["declaring"] == []
