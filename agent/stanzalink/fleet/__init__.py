"""The controller side: code that runs on the machine that talks to
devices, not on the devices (the XEP-0332 client behind ``stanzalink
http``).  It uses the same client and the same codecs as the device."""
