"""XEP-0050 Ad-Hoc Commands, controller side: run one command on one
device through a :class:`~stanzalink.aio.client.Client` and read its
answer as an outcome (status, text, fields).

The dialog: ``execute`` the node; a ``completed`` answer is the result.
An ``executing`` answer with a form asks for the arguments: they are filled
from ``args`` (``NAME=VALUE`` sets the field NAME, a bare value the next
field not set yet, in the form's order; a field not given keeps the value
the device filled in, its default) and submitted.  A second form is the
command's confirmation question: it is completed only with
``confirm=True``, otherwise the session is cancelled and the outcome is an
error quoting the question (a fleet tool must not say yes for the
operator).  A ``completed`` answer with an ``error`` note (a command that
failed) is an error outcome; so is a stanza error (``item-not-found``: no
such command, or one the controller's role may not run).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from stanzalink.aio.client import Client, IQError
from stanzalink.xep.command_forms import plain
from stanzalink.xep.forms import Form, FormError, X
from stanzalink.xml import Element
from stanzalink.xml.builder import E

__all__ = ["NS", "Outcome", "execute", "fields_of"]

NS = "http://jabber.org/protocol/commands"
_CMD = f"{{{NS}}}command"
_NOTE = f"{{{NS}}}note"
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass
class Outcome:
    status: str  # "completed" or "error"
    text: str = ""
    fields: dict[str, Any] = field(default_factory=dict)


class _ArgError(Exception):
    pass


def fields_of(forms: Sequence[Form]) -> dict[str, Any]:
    """Result forms as a dict: each labelled field (label, else var) to its
    value (a string, or a list for several values); each table to a list of
    rows (column label -> cell) under its title (``rows`` without one)."""
    out: dict[str, Any] = {}
    for form in forms:
        for f in form.fields:
            if f.type == "fixed" or f.var is None:
                continue
            key = f.label or f.var
            if f.type in ("text-multi",):
                out[key] = "\n".join(f.values)
            else:
                out[key] = f.values[0] if len(f.values) == 1 else list(f.values)
        if form.reported is not None:
            cols = [(c.var or "", c.label or c.var or "") for c in form.reported]
            rows = [
                {label: " ".join(row.get(var, ())) for var, label in cols} for row in form.items
            ]
            out[form.title or "rows"] = rows
    return out


def _read(cmd: Element) -> tuple[list[tuple[str, str]], list[Form]]:
    notes = [(n.get("type") or "info", n.text or "") for n in cmd.findall(_NOTE)]
    forms = []
    for x in cmd.findall(X):
        try:
            forms.append(Form.from_element(x))
        except FormError:
            continue
    return notes, forms


def _fill(form: Form, args: Sequence[str]) -> ET.Element:
    """The submitted form: ``form``'s fields with ``args`` applied."""
    fields = [f for f in form.fields if f.var and f.type not in ("fixed", "hidden")]
    values = {f.var: list(f.values) for f in form.fields if f.var}
    given: set[str] = set()
    positional = []
    for arg in args:
        name, sep, value = arg.partition("=")
        if sep and any(f.var == name for f in fields):
            values[name] = value.split("\n") if value else []
            given.add(name)
        else:
            positional.append(arg)
    free = [f for f in fields if f.var not in given]
    if len(positional) > len(free):
        names = ", ".join(f.var or "" for f in fields) or "none"
        raise _ArgError(f"too many arguments: {' '.join(positional)} (the form has: {names})")
    for f, value in zip(free, positional, strict=False):
        assert f.var is not None
        values[f.var] = value.split("\n") if f.type in ("text-multi", "list-multi") else [value]
    for f in fields:
        assert f.var is not None
        current = values.get(f.var, [])
        if f.type == "boolean" and current:
            low = current[0].lower()
            if low not in _TRUE | _FALSE:
                raise _ArgError(f"{f.var}: {current[0]!r} is not true or false")
            values[f.var] = ["true" if low in _TRUE else "false"]
        if f.required and not any(values.get(f.var, [])):
            raise _ArgError(f"{f.var}: required ({f.desc or f.label or 'no description'})")
    x = ET.Element(X, {"type": "submit"})
    for var, texts in values.items():
        el = ET.SubElement(x, "{jabber:x:data}field", {"var": var})
        for text in texts:
            ET.SubElement(el, "{jabber:x:data}value").text = text
    return x


async def execute(
    client: Client,
    jid: str,
    node: str,
    args: Sequence[str] = (),
    *,
    timeout: float = 30.0,
    confirm: bool = False,
) -> Outcome:
    """Run the command ``node`` on the full JID ``jid``; TimeoutError when
    an answer does not come within ``timeout`` seconds (each step)."""

    async def step(payload: ET.Element) -> Element:
        iq = E("{jabber:client}iq", {"type": "set", "to": jid}, payload)
        reply = await client.iq(iq, timeout)
        cmd = reply.find(_CMD)
        if cmd is None:
            raise _ArgError("the device answered without a <command/>")
        return cmd

    def cancel(sid: str) -> None:
        client.send(
            E(
                "{jabber:client}iq",
                {"type": "set", "to": jid},
                E(_CMD, {"node": node, "sessionid": sid, "action": "cancel"}),
            )
        )

    try:
        cmd = await step(E(_CMD, {"node": node, "action": "execute"}))
        submitted = 0
        while cmd.get("status") == "executing":
            sid = cmd.get("sessionid") or ""
            notes, forms = _read(cmd)
            form = next((f for f in forms if f.type == "form"), None)
            if form is None or submitted >= 2:
                cancel(sid)
                return Outcome("error", plain(notes, forms) or "the command asks for more steps")
            if submitted == 1:  # the confirmation question
                if not confirm:
                    cancel(sid)
                    question = plain(notes, [form]) or form.title or "confirm?"
                    return Outcome("error", f"asks for confirmation: {question}")
                x = ET.Element(X, {"type": "submit"})
                action = "complete"
            else:
                try:
                    x = _fill(form, args)
                except _ArgError:
                    cancel(sid)
                    raise
                action = "execute"  # the stage's default: next, or complete
            submitted += 1
            cmd = await step(E(_CMD, {"node": node, "sessionid": sid, "action": action}, x))
        notes, forms = _read(cmd)
        text = plain(notes, forms)
        if cmd.get("status") != "completed":
            return Outcome("error", text or f"the command ended as {cmd.get('status')}")
        if any(kind == "error" for kind, _ in notes):
            return Outcome("error", text, fields_of(forms))
        return Outcome("completed", text, fields_of(forms))
    except IQError as exc:
        why = exc.condition
        if why == "item-not-found":
            why = f"no command {node!r} (or not one this account may run)"
        elif why == "service-unavailable":
            why = "service-unavailable (is this account in the device's [access]?)"
        return Outcome("error", f"{why}{': ' + exc.text if exc.text else ''}")
    except _ArgError as exc:
        return Outcome("error", str(exc))
