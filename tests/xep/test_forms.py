"""XEP-0004 data forms with the XEP's own examples (§9: bot creation, search)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from stanzalink.jid import JID
from stanzalink.xep.forms import Field, Form, FormError, Option, parse_submit
from stanzalink.xml import tostring
from stanzalink_testing.harness import parse_stanza

# XEP-0004 example 2: "Service Returns Bot Creation Form" (the <x/> of it)
BOT_FORM = """
<x xmlns='jabber:x:data' type='form'>
  <title>Bot Configuration</title>
  <instructions>Fill out this form to configure your new bot!</instructions>
  <field type='hidden' var='FORM_TYPE'><value>jabber:bot</value></field>
  <field type='fixed'><value>Section 1: Bot Info</value></field>
  <field type='text-single' label='The name of your bot' var='botname'/>
  <field type='text-multi' label='Helpful description of your bot' var='description'/>
  <field type='boolean' label='Public bot?' var='public'><required/></field>
  <field type='text-private' label='Password for special access' var='password'/>
  <field type='fixed'><value>Section 2: Features</value></field>
  <field type='list-multi' label='What features will the bot support?' var='features'>
    <option label='Contests'><value>contests</value></option>
    <option label='News'><value>news</value></option>
    <option label='Polls'><value>polls</value></option>
    <option label='Reminders'><value>reminders</value></option>
    <option label='Search'><value>search</value></option>
    <value>news</value>
    <value>search</value>
  </field>
  <field type='fixed'><value>Section 3: Subscriber List</value></field>
  <field type='list-single' label='Maximum number of subscribers' var='maxsubs'>
    <value>20</value>
    <option label='10'><value>10</value></option>
    <option label='20'><value>20</value></option>
    <option label='30'><value>30</value></option>
    <option label='50'><value>50</value></option>
    <option label='100'><value>100</value></option>
    <option label='None'><value>none</value></option>
  </field>
  <field type='fixed'><value>Section 4: Invitations</value></field>
  <field type='jid-multi' label='People to invite' var='invitelist'>
    <desc>Tell all your friends about your new bot!</desc>
  </field>
</x>"""

# XEP-0004 example 3: "User Submits Bot Creation Form", inside its IQ
BOT_SUBMIT = """
<iq from='romeo@montague.net/home' to='joogle@botster.shakespeare.lit' type='set'
    xml:lang='en' id='create2'>
  <command xmlns='http://jabber.org/protocol/commands' node='create'
           sessionid='create:20040408T0128Z'>
    <x xmlns='jabber:x:data' type='submit'>
      <field type='hidden' var='FORM_TYPE'><value>jabber:bot</value></field>
      <field type='text-single' var='botname'><value>The Jabber Google Bot</value></field>
      <field type='text-multi' var='description'>
        <value>This bot enables you to send requests to</value>
        <value>Google and receive the search results right</value>
        <value>in your Jabber client. It&apos; really cool!</value>
        <value>It even supports Google News!</value>
      </field>
      <field type='boolean' var='public'><value>0</value></field>
      <field type='text-private' var='password'><value>v3r0na</value></field>
      <field type='list-multi' var='features'><value>news</value><value>search</value></field>
      <field type='list-single' var='maxsubs'><value>50</value></field>
      <field type='jid-multi' var='invitelist'>
        <value>juliet@capulet.com</value>
        <value>benvolio@montague.net</value>
      </field>
    </x>
  </command>
</iq>"""

# XEP-0004 example 7: "Service Returns Search Results" (two of its items)
SEARCH_RESULT = """
<x xmlns='jabber:x:data' type='result'>
  <title>Joogle Search: verona</title>
  <reported><field var='name'/><field var='url'/></reported>
  <item>
    <field var='name'><value>Comune di Verona - Benvenuti nel sito ufficiale</value></field>
    <field var='url'><value>http://www.comune.verona.it/</value></field>
  </item>
  <item>
    <field var='name'><value>benvenuto!</value></field>
    <field var='url'><value>http://www.hellasverona.it/</value></field>
  </item>
</x>"""


def bot_form() -> Form:
    """Example 2 built with the API."""
    fixed = lambda text: Field(None, "fixed", values=[text])  # noqa: E731
    return Form(
        "form",
        title="Bot Configuration",
        instructions=["Fill out this form to configure your new bot!"],
        fields=[
            Field("FORM_TYPE", "hidden", values=["jabber:bot"]),
            fixed("Section 1: Bot Info"),
            Field("botname", "text-single", label="The name of your bot"),
            Field("description", "text-multi", label="Helpful description of your bot"),
            Field("public", "boolean", label="Public bot?", required=True),
            Field("password", "text-private", label="Password for special access"),
            fixed("Section 2: Features"),
            Field(
                "features",
                "list-multi",
                label="What features will the bot support?",
                values=["news", "search"],
                options=[Option(v, v.title()) for v in ("contests", "news", "polls", "reminders")]
                + [Option("search", "Search")],
            ),
            fixed("Section 3: Subscriber List"),
            Field(
                "maxsubs",
                "list-single",
                label="Maximum number of subscribers",
                values=["20"],
                options=[Option(v, v) for v in ("10", "20", "30", "50", "100")]
                + [Option("none", "None")],
            ),
            fixed("Section 4: Invitations"),
            Field(
                "invitelist",
                "jid-multi",
                label="People to invite",
                desc="Tell all your friends about your new bot!",
            ),
        ],
    )


def test_bot_creation_form_reads_and_builds_like_the_example() -> None:
    example = Form.from_element(ET.fromstring(BOT_FORM))
    built = bot_form()
    assert example == built
    # what we build reads back to the same form
    assert Form.from_element(ET.fromstring(tostring(built.to_element()))) == built
    # and on the wire the required flag, the options and the desc are where XEP-0004 puts them
    xml = tostring(built.to_element()).decode()
    assert '<field var="public" type="boolean" label="Public bot?"><required/></field>' in xml
    assert '<option label="None"><value>none</value></option>' in xml
    assert (
        '<field type="fixed"><value>Section 4: Invitations</value></field>'
        '<field var="invitelist" type="jid-multi" label="People to invite">'
        "<desc>Tell all your friends about your new bot!</desc></field>"
    ) in xml


def test_bot_creation_submission_gives_typed_values() -> None:
    iq = parse_stanza(BOT_SUBMIT)  # the lazy stanza view the agent hands a feature
    x = iq.find("{http://jabber.org/protocol/commands}command/{jabber:x:data}x")
    assert x is not None
    values = parse_submit(x, bot_form().fields)
    assert values == {
        "FORM_TYPE": "jabber:bot",
        "botname": "The Jabber Google Bot",
        "description": "This bot enables you to send requests to\n"
        "Google and receive the search results right\n"
        "in your Jabber client. It' really cool!\n"
        "It even supports Google News!",
        "public": False,
        "password": "v3r0na",
        "features": ["news", "search"],
        "maxsubs": "50",
        "invitelist": [JID.parse("juliet@capulet.com"), JID.parse("benvolio@montague.net")],
    }


def submit(*fields: str, ftype: str = "submit") -> ET.Element:
    return ET.fromstring(f"<x xmlns='jabber:x:data' type='{ftype}'>{''.join(fields)}</x>")


def f(var: str, *values: str) -> str:
    return f"<field var='{var}'>" + "".join(f"<value>{v}</value>" for v in values) + "</field>"


PUBLIC = f("public", "1")


@pytest.mark.parametrize(
    ("fields", "var", "words"),
    [
        ((f("public", "yes"),), "public", "Public bot?: expected a boolean"),
        ((), "public", "Public bot?: a value is required"),
        ((f("public", ""),), "public", "Public bot?: a value is required"),
        ((PUBLIC, f("maxsubs", "25")), "maxsubs", "'25' is not one of 10, 20, 30, 50, 100, none"),
        ((PUBLIC, f("features", "news", "games")), "features", "'games' is not one of"),
        ((PUBLIC, f("botname", "a", "b")), "botname", "The name of your bot: takes one value"),
        ((PUBLIC, f("invitelist", "juliet@@capulet")), "invitelist", "is not a valid JID"),
        ((PUBLIC, PUBLIC), "public", "submitted twice"),
    ],
)
def test_a_wrong_value_is_a_bad_request_naming_the_field(
    fields: tuple[str, ...], var: str, words: str
) -> None:
    with pytest.raises(FormError) as info:
        parse_submit(submit(*fields), bot_form().fields)
    err = info.value
    assert err.condition == "bad-request" and err.etype == "modify"
    assert err.field == var
    assert words in err.text


def test_unknown_fields_are_ignored_and_duplicate_jids_dropped() -> None:
    values = parse_submit(
        submit(PUBLIC, f("surprise", "x"), f("invitelist", "a@b.c", "A@b.c", "d@e.f")),
        bot_form().fields,
    )
    assert values == {"public": True, "invitelist": [JID.parse("a@b.c"), JID.parse("d@e.f")]}


def test_only_a_submit_form_is_a_submission() -> None:
    with pytest.raises(FormError) as info:
        parse_submit(submit(PUBLIC, ftype="form"), bot_form().fields)
    assert "expected a data form of type submit, got 'form'" in info.value.text
    assert parse_submit(submit(PUBLIC, ftype="cancel"), bot_form().fields, types=("cancel",))


def test_search_results_table() -> None:
    built = Form(
        "result",
        title="Joogle Search: verona",
        reported=[Field("name"), Field("url")],
        items=[
            {
                "name": ["Comune di Verona - Benvenuti nel sito ufficiale"],
                "url": ["http://www.comune.verona.it/"],
            },
            {"name": ["benvenuto!"], "url": ["http://www.hellasverona.it/"]},
        ],
    )
    assert Form.from_element(ET.fromstring(SEARCH_RESULT)) == built
    xml = tostring(built.to_element()).decode()
    assert xml.startswith(
        '<x xmlns="jabber:x:data" type="result"><title>Joogle Search: verona</title>'
        '<reported><field var="name" type="text-single"/><field var="url" type="text-single"/>'
        '</reported><item><field var="name"><value>Comune di Verona'
    )
    assert xml.count("<item>") == 2


def test_building_refuses_what_xep_0004_forbids() -> None:
    with pytest.raises(ValueError, match="not a XEP-0004 field type"):
        Field("x", "text-double")
    with pytest.raises(ValueError, match="needs a var"):
        Field(None, "text-single")
    with pytest.raises(ValueError, match="has no options"):
        Field("x", "boolean", options=[Option("1")])
    with pytest.raises(ValueError, match="not a XEP-0004 form type"):
        Form("question")
    with pytest.raises(FormError, match="without a var"):
        Form.from_element(submit("<field type='text-single'/>"))
