"""The network virtual terminal: a device console in any chat window.

- :mod:`.commands`: the command model shared with XEP-0050 ad-hoc commands
  (registry, ``@command``, typed arguments, result values);
- :mod:`.builtins`: the built-in commands (status, log, config, ping, ...);
- :mod:`.feature`: the chat front end (:class:`~.feature.Console`);
- :mod:`.render`: results as XHTML-IM / XEP-0393 content, in pages;
- :mod:`.system`: what the device is doing, read from /proc and /sys.

User documentation: ``docs/console.md``.
"""
