"""The controller side: code that runs on the machine that talks to
devices, not on the devices: :class:`Fleet` (``stanzalink fleet``: list the
devices a controller account reaches, run a command on many) and the
XEP-0332 client behind ``stanzalink http``.  It uses the same client and
the same codecs as the device."""

from stanzalink.fleet.core import Device, Fleet, Result

__all__ = ["Device", "Fleet", "Result"]
