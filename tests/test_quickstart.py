"""docs/quickstart.md cannot drift: every command block in it is a step,
marked ``<!-- step: NAME -->`` on the line before the block, and every step
has a test that runs the block as written (extracted from the document) or,
where CI cannot (a Yocto build, flashing an image), checks it against what
the tree provides.  ``STEPS`` says which test that is; a block without a
marker, a marker without an entry here, or an entry whose test does not
exist fails.  The checks here hold for every step: each ``stanzalink``
command parses with the real argument parser, each config key the document
tells to set is in the schema, each unit, recipe, package, path and
Buildroot symbol it names is the tree's.  ``pytest -s`` prints the table."""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from stanzalink.agent import schema
from stanzalink.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs/quickstart.md"

DEB = "tests/packaging/test_deb.py"
# step -> (the test that covers it, "runs" it as written or "checks" it)
STEPS: dict[str, tuple[str, str]] = {
    "try": ("tests/integration/test_quickstart_try.py::test_make_try_as_written", "runs"),
    "server-accounts": (f"{DEB}::test_quickstart_on_debian", "runs"),
    "deb-build-deps": ("tests/test_quickstart.py::test_build_tools_step", "checks"),
    "deb-build": (f"{DEB}::test_quickstart_on_debian", "runs (its fixture built: make deb)"),
    "deb-install": (f"{DEB}::test_quickstart_on_debian", "runs"),
    "deb-config": (f"{DEB}::test_quickstart_on_debian", "runs"),
    "deb-password": (f"{DEB}::test_quickstart_on_debian", "runs"),
    "deb-check": (f"{DEB}::test_quickstart_on_debian", "runs"),
    "deb-enable": (f"{DEB}::test_quickstart_on_debian", "runs"),
    "deb-journal": (f"{DEB}::test_quickstart_on_debian", "runs"),
    "chat-profanity": (f"{DEB}::test_quickstart_on_debian", "runs (slixmpp, same stanzas)"),
    "by-hand": ("tests/test_quickstart.py::test_by_hand", "runs check-config; parses run"),
    "yocto-layer": ("tests/test_quickstart.py::test_yocto_steps", "checks"),
    "yocto-image": ("tests/test_quickstart.py::test_yocto_steps", "checks"),
    "buildroot-image": ("tests/test_quickstart.py::test_buildroot_steps", "checks"),
    "image-check": ("tests/test_quickstart.py::test_image_config_steps", "checks"),
    "image-start": ("tests/test_quickstart.py::test_image_config_steps", "checks"),
}


@dataclass(frozen=True)
class Step:
    name: str
    lang: str  # the fence's info string: sh, toml, text
    body: str  # the block's text, as written
    line: int  # where the block starts in the document

    def commands(self) -> list[str]:
        """The block's commands as a shell reads them: one per line (a
        trailing backslash joins lines), runs of blanks made one, comments
        and blank lines dropped."""
        out = []
        for logical in self.body.replace("\\\n", " ").splitlines():
            command = without_comment(" ".join(logical.split()))
            if command:
                out.append(command)
        return out


def without_comment(line: str) -> str:
    """``line`` up to a ``#`` that starts a shell comment (outside quotes,
    at the start or after a blank)."""
    quote = ""
    for i, c in enumerate(line):
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] == " "):
            return line[:i].rstrip()
    return line


# what a Markdown renderer shows as a code block (CommonMark): a fence of
# three or more backticks or tildes indented up to three spaces, or, after
# a blank line, a line indented four spaces or a tab
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
INDENTED = re.compile(r"^(    |\t)\S")


def steps(text: str | None = None) -> dict[str, Step]:
    """The document's steps by name.  A block is read only in the form
    ```` ```lang ```` at the start of a line, closed by a line ```` ``` ````;
    any other code block a renderer shows (tildes, an indented fence, more
    backticks, words after the language, an indented block) is an error,
    as are a block without a marker right above it and a marker used twice:
    no command the document shows escapes its test."""
    text = DOC.read_text() if text is None else text
    found: dict[str, Step] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line, where = lines[i], f"{DOC.name}:{i + 1}"
        if INDENTED.match(line) and (i == 0 or not lines[i - 1].strip()):
            raise AssertionError(f"{where}: an indented code block (use a marked ``` block)")
        if not FENCE.match(line):
            i += 1
            continue
        opening = re.fullmatch(r"```(\w*)", line)
        if opening is None:
            raise AssertionError(
                f"{where}: a code block the step parser does not read, {line.strip()!r} "
                "(open it with ``` and one word, at the start of the line)"
            )
        end = next((j for j in range(i + 1, len(lines)) if FENCE.match(lines[j])), None)
        if end is None or lines[end] != "```":
            raise AssertionError(f"{where}: a code block not closed by a line ```")
        before = "\n".join(lines[:i]).rstrip("\n").rsplit("\n", 1)[-1]
        marker = re.fullmatch(r"<!-- step: ([\w-]+) -->", before.strip())
        if marker is None:
            raise AssertionError(f"{where}: a command block with no step marker")
        name = marker.group(1)
        if name in found:
            raise AssertionError(f"{where}: step {name} marked twice")
        body = "".join(ln + "\n" for ln in lines[i + 1 : end])
        found[name] = Step(name, opening.group(1), body, i + 1)
        i = end + 1
    return found


def step(name: str) -> Step:
    return steps()[name]


def without_sudo(command: str) -> list[str]:
    words = shlex.split(command)
    return words[1:] if words[0] == "sudo" else words


def test_every_step_has_a_test() -> None:
    doc = steps()
    assert list(doc) == [n for n in STEPS if n in doc], "STEPS lists the steps in document order"
    assert set(doc) == set(STEPS), f"steps with no test: {set(doc) - set(STEPS)}; gone: " + str(
        set(STEPS) - set(doc)
    )
    for step_name, (test, _) in STEPS.items():
        path, _, name = test.partition("::")
        # the test exists, and reads this step from the document by name
        assert f'"{step_name}"' in function_source(ROOT / path, name), (step_name, test)
    width = max(map(len, STEPS))
    print("\nquickstart steps and their tests:")
    for name, (test, how) in STEPS.items():
        print(f"  {name:<{width}}  line {doc[name].line:>3}  {how}: {test}")


def function_source(path: Path, name: str) -> str:
    """The source of the module-level function ``name`` in ``path``."""
    import ast

    text = path.read_text()
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return ast.get_source_segment(text, node) or ""
    raise AssertionError(f"{path.name}: no function {name}")


def test_the_step_parser_refuses_an_unmarked_block() -> None:
    with pytest.raises(AssertionError, match="no step marker"):
        steps("# x\n\n```sh\nmake deb\n```\n")
    with pytest.raises(AssertionError, match="marked twice"):
        steps("<!-- step: a -->\n```sh\nls\n```\n<!-- step: a -->\n```sh\nls\n```\n")
    (one,) = steps("<!-- step: a -->\n```sh\nsudo ls \\\n  -l  # x\n\n```\n").values()
    assert one.commands() == ["sudo ls -l"]


@pytest.mark.parametrize(
    "block",
    [
        "~~~sh\nmake deb\n~~~\n",  # tildes
        "```sh title=x\nmake deb\n```\n",  # words after the language
        "  ```sh\n  make deb\n  ```\n",  # an indented fence (a list item's)
        "````sh\nmake deb\n````\n",  # more backticks
        "\n    make deb\n",  # an indented code block
        "```sh\nmake deb\n``` \n",  # a closing fence a renderer reads, not this parser
        "```sh\nmake deb\n",  # never closed
    ],
    ids=["tildes", "info-words", "indented-fence", "four-backticks", "indented", "close", "open"],
)
def test_a_block_the_parser_cannot_read_is_refused(block: str) -> None:
    """A renderer shows each of these as a code block; the parser must not
    skip it silently (a command no test would run)."""
    with pytest.raises(AssertionError, match="code block"):
        steps(f"# x\n\n<!-- step: a -->\n{block}")


def stanzalink_commands() -> list[list[str]]:
    out = []
    for s in steps().values():
        if s.lang != "sh":
            continue
        for command in s.commands():
            words = without_sudo(command)
            if words[0] in ("stanzalink", ".venv/bin/stanzalink"):
                out.append(words[1:])
    return out


def test_build_tools_step() -> None:
    """The tools ``make deb`` needs: git and make (it packs the files git
    tracks), and debian/control's Build-Depends through ``apt-get
    build-dep`` in the tree (what the ``built`` fixture of
    tests/packaging/test_deb.py checks with dpkg-checkbuilddeps)."""
    (line,) = step("deb-build-deps").commands()
    parts = [without_sudo(part) for part in line.split(" && ")]
    assert parts == [["apt-get", "install", "git", "make"], ["apt-get", "build-dep", "./"]], line
    assert (ROOT / "debian/control").is_file()
    recipe = re.search(r"^deb:\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert recipe and "git ls-files" in recipe.group(1) and "dpkg-buildpackage" in recipe.group(1)


def test_every_stanzalink_command_parses() -> None:
    commands = stanzalink_commands()
    assert len(commands) >= 4, commands
    parser = build_parser()
    for argv in commands:
        args = parser.parse_args(argv)  # exits 2 (a test error) on a wrong one
        assert args.command in ("run", "check-config"), argv


def test_the_config_keys_are_in_the_schema() -> None:
    snippet = tomllib.loads(step("deb-config").body)
    sections = schema()
    for section, keys in snippet.items():
        assert section in sections, section
        for key in keys:
            assert key in sections[section].keys, f"{section}.{key}"
    # the keys the document says are there as installed
    shipped = tomllib.loads((ROOT / "packaging/device.toml").read_text())
    for key in ("password_file", "resource"):
        assert shipped["account"][key] == snippet["account"][key], key
    assert set(snippet) <= set(shipped)


def test_the_unit_the_document_names() -> None:
    unit = (ROOT / "packaging/stanzalink.service").read_text()
    enable = step("deb-enable").commands()
    assert [without_sudo(c) for c in enable] == [["systemctl", "enable", "--now", "stanzalink"]]
    assert re.search(r"^WantedBy=multi-user.target$", unit, re.M)
    assert step("deb-journal").commands() == ["journalctl -u stanzalink -f"]
    # what step 4 says of a start before the file is edited
    assert "ExecStartPre=/usr/bin/stanzalink check-config /etc/stanzalink/device.toml" in unit
    assert re.search(r"^Restart=on-failure$", unit, re.M)
    assert re.search(r"^RestartSec=15s$", unit, re.M)
    assert re.search(r"^StartLimitIntervalSec=0$", unit, re.M)
    text = DOC.read_text()
    assert "`RestartSec=15s`" in text and "`StartLimitIntervalSec=0`" in text


def test_by_hand(tmp_path: Path) -> None:
    """The development machine's commands: the venv's entry point exists
    where ``make setup`` puts it, and check-config passes a config edited
    as step 3 says."""
    import subprocess

    from stanzalink.cli.config_commands import example_config

    from .util import python_cmd

    commands = [shlex.split(c) for c in step("by-hand").commands()]
    assert [c[0] for c in commands] == [".venv/bin/stanzalink"] * 2
    # the entry point make setup's editable install puts in .venv/bin
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^stanzalink = "stanzalink\.cli:main"$', pyproject, re.M)
    snippet = tomllib.loads(step("deb-config").body)
    (tmp_path / "password").write_text("device1 password\n")
    conf = example_config()
    for section, keys in snippet.items():
        for key, value in keys.items():
            if key == "ca_file":
                continue  # a private CA: none here
            if key == "password_file":
                value = str(tmp_path / "password")
            conf = set_key(conf, section, key, value)
    conf = conf.replace('password = "secret"', "# password")
    (tmp_path / "device.toml").write_text(conf)
    check = commands[0]
    assert check[1:] == ["check-config", "device.toml"]
    res = subprocess.run(
        [*python_cmd(), "-m", "stanzalink", *check[1:]],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("device.toml: OK (device device1@example.net;"), res.stdout


def toml_value(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    assert isinstance(value, int), value
    return str(value)


def set_key(text: str, section: str, key: str, value: object) -> str:
    """``key = value`` in ``[section]`` of a TOML text: the key's line (or
    its commented-out line) replaced, else added below the header, as a
    person editing the file would."""
    head = re.search(rf"^\[{re.escape(section)}\][^\n]*\n", text, re.M)
    assert head, f"no [{section}] in the file"
    end = re.search(r"^\[", text[head.end() :], re.M)
    stop = head.end() + (end.start() if end else len(text) - head.end())
    line = f"{key} = {toml_value(value)}"
    old = rf"^#? ?{re.escape(key)} = [^\n]*$"
    body, n = re.subn(old, line, text[head.end() : stop], count=1, flags=re.M)
    if n == 0:
        body = line + "\n" + body
    return text[: head.end()] + body + text[stop:]


def test_yocto_steps() -> None:
    (add,) = [shlex.split(c) for c in step("yocto-layer").commands()]
    assert add[:2] == ["bitbake-layers", "add-layer"]
    layer = ROOT / Path(add[2]).name  # /path/to/stanzalink/recipes
    assert (layer / "conf/layer.conf").is_file()
    (install,) = step("yocto-image").body.strip().splitlines()[1:]
    package = re.fullmatch(r'IMAGE_INSTALL:append = " ([\w-]+)"', install)
    assert package, install
    recipes = list(layer.glob(f"recipes-*/{package.group(1)}/{package.group(1)}_*.bb"))
    assert len(recipes) == 1, recipes
    assert install in (ROOT / "recipes/README.md").read_text()
    bb = recipes[0].read_text()
    # what the document says the image then has
    assert 'SYSTEMD_SERVICE:${PN} = "stanzalink.service"' in bb
    assert 'SYSTEMD_AUTO_ENABLE:${PN} = "enable"' in bb
    assert 'INITSCRIPT_NAME = "stanzalink"' in bb  # /etc/init.d/stanzalink
    assert "${D}${sysconfdir}/stanzalink/device.toml" in bb
    assert "--user-group stanzalink" in bb


def test_buildroot_steps() -> None:
    lines = [shlex.split(c) for c in step("buildroot-image").commands()]
    tree = ROOT / "buildroot"
    # every word read: nothing added to a line, no line added, goes unchecked
    assert [len(words) for words in lines] == [3, 4, 4], lines
    assert lines[0][:2] == ["make", "BR2_EXTERNAL=/path/to/stanzalink/buildroot"]
    assert (tree / "external.desc").read_text().startswith("name: STANZALINK")
    board = lines[0][2]
    merge = lines[1]
    assert merge[:3] == ["support/kconfig/merge_config.sh", "-m", ".config"]
    fragment = tree / Path(merge[3]).relative_to("/path/to/stanzalink/buildroot")
    assert fragment.is_file() and fragment.name == f"stanzalink_{board}"
    assert "BR2_PACKAGE_PYTHON_STANZALINK=y" in fragment.read_text().splitlines()
    assert lines[2] == ["make", "olddefconfig", "&&", "make"]
    config_in = (tree / "package/python-stanzalink/Config.in").read_text()
    assert "config BR2_PACKAGE_PYTHON_STANZALINK\n" in config_in
    assert '"python-stanzalink"' in config_in
    assert "`BR2_PACKAGE_PYTHON_STANZALINK`" in DOC.read_text()


def test_image_config_steps() -> None:
    (check,) = [shlex.split(c) for c in step("image-check").commands()]
    assert check == ["stanzalink", "check-config", "/etc/stanzalink/device.toml"]
    mk = (ROOT / "buildroot/package/python-stanzalink/python-stanzalink.mk").read_text()
    bb = next((ROOT / "recipes").glob("recipes-*/python3-stanzalink/*.bb")).read_text()
    assert "$(TARGET_DIR)/etc/stanzalink/device.toml" in mk
    assert "/etc/stanzalink/device.toml f 0640 root stanzalink" in mk
    shipped = "${S}/packaging/device.toml ${D}${sysconfdir}/stanzalink/device.toml"
    assert f"install -m 0640 {shipped}" in bb
    start = [shlex.split(c) for c in step("image-start").commands()]
    assert len(start) == 4, start  # each line is checked below: none added
    assert start[0] == ["systemctl", "enable", "--now", "stanzalink"]
    assert "$(TARGET_DIR)/usr/lib/systemd/system/stanzalink.service" in mk
    assert start[1] == ["/etc/init.d/S90stanzalink", "start"]
    assert "$(TARGET_DIR)/etc/init.d/S90stanzalink" in mk
    assert start[2] == ["/etc/init.d/stanzalink", "start"]
    assert "${D}${sysconfdir}/init.d/stanzalink" in bb
    assert start[3] == ["tail", "-f", "/var/log/messages"]
    script = (ROOT / "packaging/S90stanzalink").read_text()
    assert "--syslog" in script and "check-config" in script
    assert re.search(r"RESPAWN_DELAY=\$\{STANZALINK_RESPAWN_DELAY:-5\}", script)
