"""Helpers for testing devices and plugins against real XMPP servers
(a throwaway Prosody on loopback with its own certificates)."""
