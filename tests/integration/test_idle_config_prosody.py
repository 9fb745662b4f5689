"""``stanzalink run`` with the default config, logged in to a real Prosody and
idle, holds neither datetime.py (its config's tomllib took the C module's
classes: the config is read before any thread starts) nor the config's
classes as dataclasses.  (The memory this saves is measured in
``bench/bench_memory.py``.)"""

from __future__ import annotations

import json
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from stanzalink_testing.prosody import Prosody

from ..util import python_cmd
from .peers import new_account

pytestmark = pytest.mark.integration
AGENT_DIR = str(Path(__file__).resolve().parents[2] / "agent")

# `stanzalink run`, in this process: SIGUSR1 prints what is loaded and ends
# it (a signal, not a thread: a thread running at start would change what
# the config loads)
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
    sys.exit(main(["run", "--config", sys.argv[1]]))
    """
)


def test_an_idle_default_agent_holds_no_datetime_py_nor_dataclasses(
    prosody: Prosody, tmp_path: Path
) -> None:
    dev, pw = new_account(prosody, "idlecfg")
    admin, _ = new_account(prosody, "alice")
    cfg = tmp_path / "device.toml"
    cfg.write_text(
        f'[account]\njid = "{dev}"\npassword = "{pw}"\n'
        f'[server]\nhost = "127.0.0.1"\nport = {prosody.port}\nca_file = "{prosody.ca}"\n'
        f'[access]\nadmin = ["{admin}"]\n'
    )
    proc = subprocess.Popen(
        [*python_cmd(), "-c", RUN, str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": AGENT_DIR},
    )
    try:
        assert proc.stderr is not None and proc.stdout is not None
        log = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            log.append(line)
            if "online as" in line:
                break
        assert "online as" in "".join(log), "".join(log)[-3000:]
        time.sleep(2)  # roster, probes, presence, caps query, vCard
        proc.send_signal(signal.SIGUSR1)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-3000:]
    seen = json.loads(out)
    loaded = set(seen["modules"])
    assert {"stanzalink.config", "stanzalink.session.online", "tomllib"} <= loaded
    # tomllib took _datetime's classes; nothing else wanted datetime.py
    assert "_datetime" in loaded and "datetime" not in loaded, seen["datetime"]
    # no module of the idle path declares a dataclass, and none loads the module
    assert seen["declaring"] == []
    assert "dataclasses" not in loaded
