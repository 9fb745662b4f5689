"""The plugin API under its earlier name: plugins written as
``from stanzalink.console.commands import Arg, Invocation, command`` keep
working.  New code imports :mod:`stanzalink.commands`."""

from stanzalink.commands import (
    Arg,
    Command,
    CommandError,
    FileOffer,
    Invocation,
    KeyValue,
    Registry,
    Result,
    Table,
    Text,
    command,
)

__all__ = [
    "Arg",
    "Command",
    "CommandError",
    "FileOffer",
    "Invocation",
    "KeyValue",
    "Registry",
    "Result",
    "Table",
    "Text",
    "command",
]
