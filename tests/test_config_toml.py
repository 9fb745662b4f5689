"""tomllib as stanzalink imports it (:func:`stanzalink.config.import_tomllib`):
without datetime.py when nothing has imported ``datetime`` yet, and the
same values, types and messages as a plain ``import tomllib`` gives."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

from .util import agent_pythonpath, python_cmd

# every kind of TOML date and time: offset date-times (Z, +, -, fractions),
# local date-times, local dates, local times
DOC = """\
utc = 1979-05-27T07:32:00Z
east = 1979-05-27T07:32:00.5+05:45
west = 1979-05-27 00:32:00.999999-07:00
lower = 1979-05-27t07:32:00z
local = 1979-05-27T07:32:00
local_frac = 1979-05-27T00:32:00.123456789
day = 1979-05-27
clock = 07:32:00
clock_frac = 00:32:00.25
nested = { at = 2000-02-29T23:59:59+00:00, days = [2024-01-01, 2024-12-31] }
"""

# the values, their types as datetime.py names them, a config error naming a
# date-time, and which datetime module is loaded; ``plain``: tomllib as
# Python imports it, after datetime.py
SHOW = textwrap.dedent(
    """
    import json, sys
    if sys.argv[1] == "plain":
        import datetime
    from stanzalink.config import import_tomllib
    tomllib = import_tomllib()
    before = sys.modules.get("datetime")
    print("datetime before:", before and before.__name__)
    values = tomllib.loads(sys.argv[2])
    import datetime
    print("datetime after:", datetime.__file__.rsplit("/", 1)[-1])
    def kinds(v):
        if isinstance(v, dict):
            return {k: kinds(x) for k, x in v.items()}
        if isinstance(v, list):
            return [kinds(x) for x in v]
        return [c.__name__ for c in (datetime.datetime, datetime.date, datetime.time)
                if isinstance(v, c)] + [type(v).__module__, type(v).__qualname__]
    print(repr(values))
    print(json.dumps(kinds(values)))
    print(values["east"].utcoffset(), values["west"].tzinfo, values["utc"].tzinfo is datetime.UTC)
    from stanzalink.agent import parse_config
    from stanzalink.config import ConfigError
    try:
        parse_config({"account": {"jid": values["utc"]}})
    except ConfigError as exc:
        print(exc)
    """
)


def show(mode: str, doc: str = DOC) -> list[str]:
    out = subprocess.run(
        [*python_cmd(), "-c", SHOW, mode, doc],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": agent_pythonpath()},
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.splitlines()


def test_toml_dates_and_times_are_what_plain_tomllib_gives() -> None:
    lean, plain = show("lean"), show("plain")
    assert lean[0] == "datetime before: None"  # datetime.py did not run for tomllib
    assert plain[0] == "datetime before: datetime"
    # a later import of datetime gets the real module, and its classes
    assert lean[1] == plain[1] == "datetime after: datetime.py"
    assert lean[2:] == plain[2:]
    assert "datetime.datetime(1979, 5, 27, 7, 32, tzinfo=datetime.timezone.utc)" in lean[2]
    kinds = json.loads(lean[3])
    assert kinds["utc"] == ["datetime", "date", "datetime", "datetime"]
    assert kinds["local_frac"] == ["datetime", "date", "datetime", "datetime"]
    assert kinds["day"] == ["date", "datetime", "date"]
    assert kinds["clock"] == ["time", "datetime", "time"]
    assert kinds["nested"]["days"][1] == ["date", "datetime", "date"]
    assert lean[4] == "5:45:00 UTC-07:00 True"
    assert lean[5].startswith("account.jid: expected a string, got datetime datetime.datetime(")


RUN = textwrap.dedent(
    """
    import sys, threading
    sys.path.insert(0, sys.argv[1])
    from stanzalink.config import import_tomllib
    mode = sys.argv[2]
    if mode == "thread":
        stop = threading.Event()
        t = threading.Thread(target=stop.wait)
        t.start()
    if mode == "no _datetime":
        sys.modules["_datetime"] = None  # as on a Python without the C module
    try:
        tomllib = import_tomllib()
    except Exception as exc:
        print("raised", type(exc).__name__, exc)
    else:
        where = "fake" if tomllib.__file__.startswith(sys.argv[1]) else "stdlib"
        print("tomllib", where, tomllib.loads("a = 1")["a"])
    if mode == "thread":
        stop.set()
        t.join()
    dt = sys.modules.get("datetime")
    print("datetime", dt and dt.__file__.rsplit("/", 1)[-1])
    print("seen", getattr(sys.modules.get("seen"), "SEEN", None))
    """
)


def run(tmp_path: Path, mode: str, fake: str | None = None) -> list[str]:
    """RUN in a fresh interpreter; ``fake``: the body of a tomllib package
    found before the standard library's."""
    path = tmp_path / "path"
    if fake is not None:
        (path / "tomllib").mkdir(parents=True)
        (path / "tomllib" / "__init__.py").write_text(fake)
    path.mkdir(exist_ok=True)
    out = subprocess.run(
        [*python_cmd(), "-c", RUN, str(path), mode],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": agent_pythonpath()},
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.splitlines()


def test_alone_tomllib_loads_without_datetime_py(tmp_path: Path) -> None:
    assert run(tmp_path, "alone") == ["tomllib stdlib 1", "datetime None", "seen None"]


def test_with_another_thread_running_tomllib_imports_plainly(tmp_path: Path) -> None:
    assert run(tmp_path, "thread")[:2] == ["tomllib stdlib 1", "datetime datetime.py"]


def test_without_the_c_module_tomllib_imports_plainly(tmp_path: Path) -> None:
    assert run(tmp_path, "no _datetime")[:2] == ["tomllib stdlib 1", "datetime datetime.py"]


# what `import datetime` gave a tomllib while it was imported, in a module
# that outlives a failed import
SEEN = textwrap.dedent(
    """
    import datetime, sys, types
    seen = sys.modules.setdefault("seen", types.ModuleType("seen"))
    seen.SEEN = [*getattr(seen, "SEEN", []), datetime.__name__]
    """
)


def test_a_failed_import_puts_sys_modules_back(tmp_path: Path) -> None:
    fake = SEEN + "raise RuntimeError('broken')\n"
    assert run(tmp_path, "fail", fake) == [
        "raised RuntimeError broken",
        "datetime None",  # the stand-in is gone
        "seen ['_datetime']",
    ]


def test_a_tomllib_that_wants_more_of_datetime_gets_the_real_module(tmp_path: Path) -> None:
    # datetime.py has `sys`, the C module not: the second try runs datetime.py
    fake = SEEN + "from datetime import sys as _sys\nloads = lambda s: {'a': 1}\n"
    assert run(tmp_path, "more", fake) == [
        "tomllib fake 1",
        "datetime datetime.py",
        "seen ['_datetime', 'datetime']",
    ]


def test_stanzalink_imports_tomllib_only_through_the_helper() -> None:
    agent = Path(__file__).resolve().parents[1] / "agent"
    found = [
        f"{py.relative_to(agent)}:{n}"
        for py in sorted(agent.rglob("*.py"))
        for n, line in enumerate(py.read_text().splitlines(), 1)
        if line.strip().startswith(("import tomllib", "from tomllib"))
    ]
    # config.py's import_tomllib itself, in its two plain branches and the last
    assert [f.split(":")[0] for f in found] == ["stanzalink/config.py"] * 3, found
