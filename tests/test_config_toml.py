"""TOML as stanzalink reads it (:func:`stanzalink.config_toml.toml_loads`):
tomllib loaded for the call only, ``datetime`` only when the text has a date
or time, and the same values, types and messages as a plain ``import
tomllib`` gives."""

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
        import tomllib
        loads = tomllib.loads
    else:
        from stanzalink.config_toml import toml_loads as loads
    values = loads(sys.argv[2])
    print("tomllib kept:", "tomllib" in sys.modules)
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
    for bad in ("a = 1979-13-27", "a = 07:32:61", "a = 1979-05-27T07:32:00+25:00", "a = [1,"):
        try:
            loads(bad)
        except ValueError as exc:
            print(type(exc).__module__, type(exc).__name__, exc)
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
    assert lean[0] == "tomllib kept: False"  # taken out after the call
    assert plain[0] == "tomllib kept: True"
    # the dates loaded the real module, and its classes
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
    # invalid dates, times, offsets and text: tomllib's own error, its message
    assert len(lean) == 10
    assert all(line.startswith("tomllib TOMLDecodeError ") for line in lean[6:]), lean[6:]


RUN = textwrap.dedent(
    """
    import sys, threading
    sys.path.insert(0, sys.argv[1])
    from stanzalink.config_toml import toml_loads
    mode = sys.argv[2]
    if mode == "thread":
        stop = threading.Event()
        t = threading.Thread(target=stop.wait)
        t.start()
    if mode == "loaded":
        import tomllib
    try:
        print("loads", toml_loads("a = 1")["a"])
    except Exception as exc:
        print("raised", type(exc).__name__, exc)
    if mode == "thread":
        stop.set()
        t.join()
    tl = sys.modules.get("tomllib")
    print("tomllib", tl and ("fake" if tl.__file__.startswith(sys.argv[1]) else "stdlib"))
    dt = sys.modules.get("datetime")
    print("datetime", dt and getattr(dt, "__file__", "stand-in").rsplit("/", 1)[-1])
    print("seen", getattr(sys.modules.get("seen"), "SEEN", None))
    import gc, re
    gc.collect()
    kept = [o for o in gc.get_objects() if isinstance(o, re.Pattern) and "1988-10-27" in o.pattern]
    print("tomllib patterns", len(kept))
    """
)


def run(tmp_path: Path, mode: str, fake: str | None = None) -> list[str]:
    """RUN in a fresh interpreter; ``fake``: the body of a tomllib package
    found before the standard library's (its lines without the count of
    the standard tomllib's patterns, which a fake has none of)."""
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
    lines = out.stdout.splitlines()
    return lines[:-1] if fake is not None else lines


def test_alone_tomllib_is_not_kept_nor_datetime_loaded(tmp_path: Path) -> None:
    # nor its compiled patterns, which re's cache would keep
    assert run(tmp_path, "alone") == [
        "loads 1",
        "tomllib None",
        "datetime None",
        "seen None",
        "tomllib patterns 0",
    ]
    assert run(tmp_path, "loaded")[-1] == "tomllib patterns 1"


def test_with_another_thread_running_tomllib_loads_plainly_and_stays(tmp_path: Path) -> None:
    assert run(tmp_path, "thread")[:3] == ["loads 1", "tomllib stdlib", "datetime datetime.py"]


def test_a_tomllib_loaded_before_stays(tmp_path: Path) -> None:
    assert run(tmp_path, "loaded")[:3] == ["loads 1", "tomllib stdlib", "datetime datetime.py"]


# what `import datetime` gave a tomllib while it was imported, in a module
# that outlives a failed import
SEEN = textwrap.dedent(
    """
    import datetime, sys, types
    seen = sys.modules.setdefault("seen", types.ModuleType("seen"))
    name = getattr(datetime, "__file__", "stand-in").rsplit("/", 1)[-1]
    seen.SEEN = [*getattr(seen, "SEEN", []), name]
    """
)


def test_a_failed_import_puts_sys_modules_back(tmp_path: Path) -> None:
    fake = SEEN + "raise RuntimeError('broken')\n"
    assert run(tmp_path, "fail", fake) == [
        "raised RuntimeError broken",
        "tomllib None",
        "datetime None",  # the stand-in is gone
        "seen ['stand-in']",
    ]


def test_a_tomllib_that_wants_more_of_datetime_gets_the_real_module(tmp_path: Path) -> None:
    # datetime.py has `sys`, the stand-in not: the second try runs datetime.py
    fake = SEEN + "from datetime import sys as _sys\nloads = lambda s: {'a': 1}\n"
    assert run(tmp_path, "more", fake) == [
        "loads 1",
        "tomllib fake",
        "datetime datetime.py",
        "seen ['stand-in', 'datetime.py']",
    ]


def test_stanzalink_imports_tomllib_only_through_the_helper() -> None:
    agent = Path(__file__).resolve().parents[1] / "agent"
    found = [
        f"{py.relative_to(agent)}:{n}"
        for py in sorted(agent.rglob("*.py"))
        for n, line in enumerate(py.read_text().splitlines(), 1)
        if line.strip().startswith(("import tomllib", "from tomllib"))
    ]
    # config_toml.py's toml_loads itself, in its plain branch
    assert [f.split(":")[0] for f in found] == ["stanzalink/config_toml.py"], found


def test_a_text_nested_too_deeply_is_a_value_error_and_leaves_nothing(tmp_path: Path) -> None:
    # tomllib recurses per level: a RecursionError would escape the config's
    # checks (a traceback from `stanzalink run`, an error from `config set`)
    deep = tmp_path / "deep.toml"
    deep.write_text("v = " + "[" * 5000 + "]" * 5000 + "\n")
    code = textwrap.dedent(
        """
        import sys
        from stanzalink.config import ConfigError, read_toml
        try:
            read_toml(sys.argv[1])
        except ConfigError as exc:
            print(exc)
        print(sorted(n for n in sys.modules if n.split(".")[0] in ("tomllib", "datetime")))
        """
    )
    out = subprocess.run(
        [*python_cmd(), "-c", code, str(deep)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": agent_pythonpath()},
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.splitlines() == [f"{deep} is not valid TOML: nested too deeply", "[]"]
