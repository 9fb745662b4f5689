"""The network virtual terminal: a device console in any chat window, one
of the two front ends of the device's commands (:mod:`stanzalink.commands`;
the other is XEP-0050, :mod:`stanzalink.xep.adhoc`).

- :mod:`.feature`: the chat front end (:class:`~.feature.Console`): a chat
  message in, the command found, asked, run as a job, answered;
- :mod:`.line`: the words of a line bound to a command's arguments;
- :mod:`.session`: what the console keeps per controller (pages, a
  question, the jobs);
- :mod:`.limits`: the rate limit per account;
- :mod:`.render`: results as XHTML-IM / XEP-0393 content, in pages;
- :mod:`.reply`: the answer message (same type and thread, XEP-0461 reply);
- :mod:`.audit`: the audit trail;
- :mod:`.commands`: the plugin API under its earlier import path.

User documentation: ``docs/console.md``.
"""
