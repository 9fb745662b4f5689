"""The command model (:mod:`stanzalink.commands.model`) as XEP-0004 data
forms: the form that asks for a command's arguments, the confirmation
form, reading a submission into the handler's arguments, and results as
result forms and notes.  Used by the XEP-0050 front end
(:mod:`stanzalink.xep.adhoc`); any other front end that speaks data forms
can use it too.

Arguments -> fields: bool -> boolean, choices -> list-single,
int/float -> text-single (the range in its ``<desc/>``, checked on submit),
rest-of-line -> text-multi, str -> text-single; an argument without a
default is ``<required/>``.

Results -> (notes, one form): a one-line :class:`Text` or str is an info
note; longer or preformatted text a text-multi field; a :class:`KeyValue`
one labelled field per pair (its title a fixed field); a :class:`FileOffer`
an info note naming the file.  A :class:`Table` alone is a result form with
``<reported/>`` columns and one ``<item/>`` per row; a table beside other
content is a text-multi field of aligned lines in the one form (clients
show only the first of several forms: profanity, Pidgin).  Every field and
every list option has a label (profanity shows ``(null)`` for an option
without one, Pidgin a field's var).  Text passes the console's filter
(:func:`~stanzalink.xep.xhtml_im.clean`) before it is split into lines:
what XML cannot carry is dropped, CR LF is a line break.
"""

from __future__ import annotations

import shlex
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

from stanzalink.commands import model as cmds
from stanzalink.commands.model import Arg, Command
from stanzalink.xep.forms import Field, Form, FormError, Option, boolean_value, parse_submit
from stanzalink.xep.xhtml_im import clean, table_lines
from stanzalink.xml import Element

AnyElement = Any  # a received stanza view or an ElementTree element


def arg_field(a: Arg, remembered: Mapping[str, Any] | None = None) -> Field:
    """The field asking for ``a``, filled with the remembered value or the
    default."""
    remembered = remembered or {}
    value = remembered.get(a.name, None if a.required else a.default)
    text = "" if value is None else boolean_value(bool(value)) if a.type is bool else str(value)
    values = [text] if text else []
    desc = a.help
    if a.choices is not None:
        opts = [Option(str(c), str(c)) for c in a.choices]
        return Field(a.name, "list-single", a.name, desc, a.required, values, opts)
    if a.type is bool:
        return Field(a.name, "boolean", a.name, desc, a.required, values)
    if a.type in (int, float):
        kind = "a whole number" if a.type is int else "a number"
        bounds = [f"at least {a.minimum:g}"] if a.minimum is not None else []
        bounds += [f"at most {a.maximum:g}"] if a.maximum is not None else []
        desc = "; ".join(filter(None, [desc, " ".join([kind, *bounds])]))
        return Field(a.name, "text-single", a.name, desc, a.required, values)
    if a.rest:
        return Field(
            a.name, "text-multi", a.name, desc, a.required, text.split("\n") if text else []
        )
    return Field(a.name, "text-single", a.name, desc, a.required, values)


def menu_label(cmd: Command, listed: Sequence[Command]) -> str:
    """The name of ``cmd`` in a command list (clients list commands by it:
    Pidgin's buddy menu): its help, with the command's name added when
    another listed command has the same help."""
    text = cmd.help or cmd.name
    twins = sum(1 for c in listed if (c.help or c.name) == text)
    return f"{text} ({cmd.name})" if twins > 1 else text


def args_form(cmd: Command, remembered: Mapping[str, Any] | None = None) -> Form:
    """The form asking for the arguments of ``cmd``."""
    fields = [arg_field(a, remembered) for a in cmd.args]
    return Form("form", cmd.help or cmd.name, [f"Arguments of {cmd.usage()}"], fields)


def confirm_form(cmd: Command, args: Mapping[str, Any]) -> Form:
    """The question of ``cmd.confirm`` (the instructions: once, Pidgin shows
    both), with the arguments it will run with."""
    question = cmd.confirm or f"Run {cmd.name}?"
    fields = [Field(None, "fixed", values=[f"{k}: {one_line(fmt(v))}"]) for k, v in args.items()]
    return Form("form", cmd.help or cmd.name, [question], fields)


def read_args(cmd: Command, x: AnyElement | Element | None) -> dict[str, Any]:
    """The handler's arguments from the submitted form ``x`` (None: nothing
    submitted).  Raises :class:`FormError` (bad-request) naming the field."""
    spec = [arg_field(a) for a in cmd.args]
    values = parse_submit(x, spec, types=("submit", "cancel")) if x is not None else {}
    out: dict[str, Any] = {}
    for a, f in zip(cmd.args, spec, strict=True):
        if a.name not in values:
            if f.required:
                raise FormError(a.name, f"{f.name}: a value is required")
            out[a.name] = a.default
        elif a.type is bool:
            out[a.name] = values[a.name]
        else:
            try:
                out[a.name] = a.convert(str(values[a.name]))
            except cmds.CommandError as exc:
                raise FormError(a.name, str(exc)) from None
    return out


def render(result: cmds.Result, title: str) -> tuple[list[tuple[str, str]], list[Form]]:
    """``result`` as (notes as (type, text), result forms: at most one)."""
    parts: Sequence[Any] = list(result) if isinstance(result, (list, tuple)) else [result]
    notes: list[tuple[str, str]] = []
    main = Form("result", title)
    tables: list[cmds.Table] = []
    n = 0
    for r in parts:
        if r is None:
            continue
        if isinstance(r, str):
            r = cmds.Text(r)
        n += 1
        if isinstance(r, cmds.Text):
            text = clean(r.text).strip("\n")
            if not r.preformatted and "\n" not in text:
                notes.append(("info", text.strip()))
            else:
                label = "output" if r.preformatted else "text"
                main.fields.append(Field(f"text.{n}", "text-multi", label, values=text.split("\n")))
        elif isinstance(r, cmds.KeyValue):
            if r.title:
                main.fields.append(Field(None, "fixed", values=[r.title]))
            for i, (key, value) in enumerate(r.pairs):
                text = clean(fmt(value))
                ftype = "text-multi" if "\n" in text else "text-single"
                var = f"{slug(key)}.{n}.{i}"
                main.fields.append(Field(var, ftype, str(key), values=text.split("\n")))
        elif isinstance(r, cmds.Table):
            tables.append(r)
            main.fields.append(table_field(r, n))  # replaced below by a form of its own if alone
        elif isinstance(r, cmds.FileOffer):
            text = f"file offered: {r.path}" + (f" ({r.description})" if r.description else "")
            notes.append(("info", text))
        else:
            main.fields.append(Field(f"value.{n}", "text-single", "value", values=[fmt(r)]))
    if len(tables) == 1 and len(main.fields) == 1:
        return notes, [table_form(tables[0], title)]
    return notes, ([main] if main.fields else [])


def table_form(table: cmds.Table, title: str) -> Form:
    """A table as a result form: ``<reported/>`` columns, an ``<item/>`` a row."""
    cols = [Field(f"{slug(c)}.{i}", label=str(c)) for i, c in enumerate(table.columns)]
    rows = [
        {col.var or "": [fmt(row[i]) if i < len(row) else ""] for i, col in enumerate(cols)}
        for row in table.rows
    ]
    return Form("result", table.title or title, reported=cols, items=rows)


def table_field(table: cmds.Table, n: int) -> Field:
    """A table as a text-multi field of aligned lines (header, rule, rows)."""
    rows = [[fmt(v) for v in row] for row in table.rows]
    lines = table_lines([str(c) for c in table.columns], rows)
    label = table.title or ", ".join(str(c) for c in table.columns)
    return Field(f"table.{n}", "text-multi", label, values=lines)


def plain(notes: Sequence[tuple[str, str]], results: Sequence[Form]) -> str:
    """Notes and result forms as plain text (for a chat message)."""
    lines = [text if ntype == "info" else f"{ntype}: {text}" for ntype, text in notes]
    for form in results:
        if form.title and (form.reported is not None or len(results) > 1):
            lines.append(form.title)
        for f in form.fields:
            value = "\n".join(f.values)
            if f.type == "text-multi" and f.label:
                lines += [f"{f.label}:", value]  # a table's columns line up
            else:
                lines.append(f"{f.label}: {value}" if f.label else value)
        if form.reported is not None:
            lines.append("\t".join(c.label or c.var or "" for c in form.reported))
            for row in form.items:
                lines.append("\t".join(" ".join(row.get(c.var or "", ())) for c in form.reported))
    return "\n".join(lines)


def fmt(value: Any) -> str:
    """A value as a person reads it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def one_line(text: str) -> str:
    return " ".join(text.split("\n"))


def slug(text: Any) -> str:
    s = "".join(ch if ch.isalnum() else "-" for ch in str(text).lower()).strip("-")
    return s or "field"


def command_line(cmd: Command, args: dict[str, Any]) -> str:
    """The request as a console line would say it: ``config action=set key=x``."""
    words = [cmd.name]
    for a in cmd.args:
        if a.name in args and args[a.name] != (None if a.required else a.default):
            words.append(f"{a.name}={shlex.quote(fmt(args[a.name]))}")
    return " ".join(words)


def filtered(reply: ET.Element) -> ET.Element:
    """``reply`` with every text and attribute value passed through the
    console's filter (:func:`~stanzalink.xep.xhtml_im.clean`): nothing in it
    can make the answer unserializable."""
    for el in reply.iter():
        if el.text:
            el.text = clean(el.text)
        if el.tail:
            el.tail = clean(el.tail)
        for key, value in el.attrib.items():
            el.set(key, clean(value))
    return reply
