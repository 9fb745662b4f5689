"""The network virtual terminal: a device console in any chat window."""
