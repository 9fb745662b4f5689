"""XEP-0004 Data Forms: build forms, read submitted ones into typed values.

Building (``to_element`` gives the ``<x xmlns='jabber:x:data'/>``)::

    form = Form("form", title="Fan", instructions=["Set the fan speed."], fields=[
        Field("percent", "text-single", label="Duty cycle", required=True),
        Field("mode", "list-single", label="Mode", options=[Option("auto"), Option("manual")]),
    ])

Reading a submission against the form that was sent::

    values = parse_submit(x, form.fields)   # {"percent": "40", "mode": "auto"}

Typed values: boolean -> bool, jid-single -> JID, jid-multi -> list[JID]
(duplicates dropped), list-multi -> list[str], text-multi -> str (its lines
joined with "\\n"), every other type -> str.  A field that was not submitted
(or submitted empty) is absent from the result unless it is required, and
then the submission is refused.  Every refusal is a :class:`FormError`, a
``bad-request`` whose text names the field, so the requester can fix it.
Fields the form did not ask for are ignored (XEP-0004 §3.2).

Result forms with a table use ``reported`` (the columns) and ``items``
(one dict var -> values per row), XEP-0004 §3.4.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stanzalink.errors import StanzaError
from stanzalink.jid import JID, InvalidJID
from stanzalink.xml import Element
from stanzalink.xml.builder import sub

NS = "jabber:x:data"
X = f"{{{NS}}}x"
FORM_TYPES = ("form", "submit", "cancel", "result")
FIELD_TYPES = (
    "boolean",
    "fixed",
    "hidden",
    "jid-multi",
    "jid-single",
    "list-multi",
    "list-single",
    "text-multi",
    "text-private",
    "text-single",
)
MULTI = ("hidden", "jid-multi", "list-multi", "text-multi")  # may carry several values
_TRUE, _FALSE = ("1", "true"), ("0", "false")

AnyElement = Element | ET.Element


class FormError(StanzaError):
    """A submitted form is not acceptable; ``field`` names the culprit."""

    def __init__(self, field: str | None, text: str) -> None:
        super().__init__("bad-request", text, "modify")
        self.field = field


@dataclass
class Option:
    value: str
    label: str = ""


@dataclass
class Field:
    """One ``<field/>``.  ``values`` are the texts of its ``<value/>``s."""

    var: str | None
    type: str = "text-single"
    label: str = ""
    desc: str = ""
    required: bool = False
    values: list[str] = field(default_factory=list)
    options: list[Option] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.type not in FIELD_TYPES:
            raise ValueError(f"{self.type!r} is not a XEP-0004 field type")
        if self.var is None and self.type != "fixed":
            raise ValueError(f"a {self.type} field needs a var")
        if self.options and self.type not in ("list-single", "list-multi"):
            raise ValueError(f"a {self.type} field has no options")

    @property
    def name(self) -> str:
        """How a person knows the field: its label, else its var."""
        return self.label or self.var or "(fixed)"

    def element(self, parent: ET.Element, with_type: bool = True) -> ET.Element:
        el = sub(
            parent,
            f"{{{NS}}}field",
            attrs(var=self.var, type=self.type if with_type else None, label=self.label or None),
        )
        if self.desc:
            sub(el, f"{{{NS}}}desc", text=self.desc)
        if self.required:
            sub(el, f"{{{NS}}}required")
        for v in self.values:
            sub(el, f"{{{NS}}}value", text=v)
        for opt in self.options:
            o = sub(el, f"{{{NS}}}option", attrs(label=opt.label or None))
            sub(o, f"{{{NS}}}value", text=opt.value)
        return el

    @classmethod
    def from_element(cls, el: AnyElement) -> Field:
        ftype = el.get("type") or "text-single"
        if ftype not in FIELD_TYPES:
            ftype = "text-single"  # XEP-0004 §3.3: an unknown type is text-single
        options = [
            Option(o.findtext(f"{{{NS}}}value") or "", o.get("label") or "")
            for o in el.findall(f"{{{NS}}}option")
        ]
        if el.get("var") is None and ftype != "fixed":
            raise FormError(None, f"a {ftype} field without a var")
        return cls(
            var=el.get("var"),
            type=ftype,
            label=el.get("label") or "",
            desc=el.findtext(f"{{{NS}}}desc") or "",
            required=el.find(f"{{{NS}}}required") is not None,
            values=[v.text or "" for v in el.findall(f"{{{NS}}}value")],
            options=options if ftype in ("list-single", "list-multi") else [],
        )


@dataclass
class Form:
    """A whole data form (any of the four types)."""

    type: str = "form"
    title: str = ""
    instructions: list[str] = field(default_factory=list)
    fields: list[Field] = field(default_factory=list)
    reported: list[Field] | None = None
    items: Sequence[Mapping[str, Sequence[str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.type not in FORM_TYPES:
            raise ValueError(f"{self.type!r} is not a XEP-0004 form type")

    def field(self, var: str) -> Field | None:
        return next((f for f in self.fields if f.var == var), None)

    def to_element(self) -> ET.Element:
        x = ET.Element(X, {"type": self.type})
        if self.title:
            sub(x, f"{{{NS}}}title", text=self.title)
        for line in self.instructions:
            sub(x, f"{{{NS}}}instructions", text=line)
        for f in self.fields:
            f.element(x)
        if self.reported is not None:
            rep = sub(x, f"{{{NS}}}reported")
            for col in self.reported:
                col.element(rep)
            for row in self.items:
                item = sub(x, f"{{{NS}}}item")
                for col in self.reported:
                    assert col.var is not None
                    cell = sub(item, f"{{{NS}}}field", {"var": col.var})
                    for v in row.get(col.var, ()):
                        sub(cell, f"{{{NS}}}value", text=v)
        return x

    @classmethod
    def from_element(cls, x: AnyElement) -> Form:
        ftype = x.get("type") or ""
        if x.tag != X or ftype not in FORM_TYPES:
            raise FormError(None, f"not a data form (type {ftype!r})")
        reported_el = x.find(f"{{{NS}}}reported")
        reported = (
            [Field.from_element(f) for f in reported_el.findall(f"{{{NS}}}field")]
            if reported_el is not None
            else None
        )
        items: list[Mapping[str, Sequence[str]]] = []
        for item in x.findall(f"{{{NS}}}item"):
            items.append(
                {
                    f.get("var") or "": [v.text or "" for v in f.findall(f"{{{NS}}}value")]
                    for f in item.findall(f"{{{NS}}}field")
                }
            )
        return cls(
            type=ftype,
            title=x.findtext(f"{{{NS}}}title") or "",
            instructions=[i.text or "" for i in x.findall(f"{{{NS}}}instructions")],
            fields=[Field.from_element(f) for f in x.findall(f"{{{NS}}}field")],
            reported=reported,
            items=items,
        )


def find_form(parent: AnyElement) -> AnyElement | None:
    """The first data form directly inside ``parent``."""
    return parent.find(X)


def parse_submit(
    x: AnyElement, spec: Iterable[Field], *, types: tuple[str, ...] = ("submit",)
) -> dict[str, Any]:
    """The typed values of a submitted form ``x``, checked against ``spec``
    (the fields of the form that was sent).  Raises :class:`FormError`."""
    ftype = x.get("type")
    if x.tag != X or ftype not in types:
        raise FormError(None, f"expected a data form of type {' or '.join(types)}, got {ftype!r}")
    submitted: dict[str, list[str]] = {}
    for f in x.findall(f"{{{NS}}}field"):
        var = f.get("var")
        if not var:
            continue  # a fixed field echoed back
        if var in submitted:
            raise FormError(var, f"field {var!r} is submitted twice")
        submitted[var] = [v.text or "" for v in f.findall(f"{{{NS}}}value")]
    out: dict[str, Any] = {}
    for want in spec:
        if want.type == "fixed" or want.var is None:
            continue
        values = [v for v in submitted.get(want.var, []) if v != ""]
        if not values:
            if want.required:
                raise FormError(want.var, f"{want.name}: a value is required")
            continue
        out[want.var] = _typed(want, values)
    return out


def _typed(want: Field, values: list[str]) -> Any:
    name = want.name
    if want.type not in MULTI and len(values) > 1:
        raise FormError(want.var, f"{name}: takes one value, got {len(values)}")
    allowed = [o.value for o in want.options]
    if want.type == "boolean":
        low = values[0].strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise FormError(want.var, f"{name}: expected a boolean (1, 0, true, false), got {low!r}")
    if want.type in ("jid-single", "jid-multi"):
        jids: list[JID] = []
        for v in values:
            try:
                j = JID.parse(v.strip())
            except InvalidJID:
                raise FormError(want.var, f"{name}: {v!r} is not a valid JID") from None
            if j not in jids:
                jids.append(j)
        return jids[0] if want.type == "jid-single" else jids
    if want.type in ("list-single", "list-multi"):
        for v in values:
            if allowed and v not in allowed:
                raise FormError(want.var, f"{name}: {v!r} is not one of {', '.join(allowed)}")
        return values[0] if want.type == "list-single" else values
    if want.type == "text-multi":
        return "\n".join(values)
    return values[0] if len(values) == 1 else values


def attrs(**values: str | None) -> dict[str, str]:
    """XML attributes from keywords, those that are None left out."""
    return {k: v for k, v in values.items() if v is not None}


def boolean_value(value: bool) -> str:
    return "1" if value else "0"
