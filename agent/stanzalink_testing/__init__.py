"""The test kit: throwaway Prosody and ejabberd servers on loopback with
their own certificates, a scripted XMPP server for what real servers
rarely do, a conversation-test harness with a manual clock, and the chaos
proxy.

It lives beside the ``stanzalink`` package, not in it: nothing a device
installs (the wheel, the Debian package, the Yocto and Buildroot images)
carries it.  The tests, ``make demo``, ``make try`` and the benchmarks use it
from the source tree; the on-target ptest package installs it next to the
tests.
"""
