"""The asyncio adapter: sockets, TLS, timers and reconnects."""
