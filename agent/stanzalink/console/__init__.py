"""The network virtual terminal: a device console in any chat window, one
of the two front ends of the device's commands (:mod:`stanzalink.commands`;
the other is XEP-0050, :mod:`stanzalink.xep.adhoc`).

- :mod:`.feature`: the chat front end (:class:`~.feature.Console`): a chat
  line parsed and bound to a command's arguments, rate limits, sessions,
  confirmations, jobs, the audit log;
- :mod:`.render`: results as XHTML-IM / XEP-0393 content, in pages;
- :mod:`.commands`: the plugin API under its earlier import path.

User documentation: ``docs/console.md``.
"""
