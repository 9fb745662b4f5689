"""`stanzalink run`: the device agent, its logging and its service
manager, and the reading of its configuration (which `check-config`, in
:mod:`.config_commands`, shares)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from stanzalink import __version__

if TYPE_CHECKING:
    import argparse
    import logging

    from stanzalink.agent import Agent
    from stanzalink.aio.sdnotify import Notifier
    from stanzalink.config import DeviceConfig
    from stanzalink.logring import RecentLines


# the service manager's variables: stanzalink.aio.sdnotify.ENV_KEYS
NOTIFY_ENV_KEYS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


# [account] jid of the configuration the Debian package and the images
# install (packaging/device.toml): a placeholder at a domain reserved for
# examples (RFC 2606), which no device is ever meant to keep
SHIPPED_JID = "device@example.net"


def shipped_hint(data: dict[str, object]) -> str | None:
    """What to edit when the config ``data`` (the file as read) still holds
    the shipped placeholder JID, else None (one clause, for the end of an
    error line)."""
    account = data.get("account")
    if not isinstance(account, dict) or account.get("jid") != SHIPPED_JID:
        return None
    secret = account.get("password_file")
    where = f"its password in {secret}" if isinstance(secret, str) else "[account] password"
    return (
        f"the file is still as shipped: set [account] jid to the device's account, "
        f"{where} and a controller in [access] admin; see docs/quickstart.md"
    )


def load_device_config(path: str) -> DeviceConfig:
    """The device's config, as ``run`` and ``check-config`` take it: what
    :func:`stanzalink.agent.load_config` accepts, less the shipped file
    left unedited (its placeholder JID, with no [server] host that could
    serve it).  A :class:`ConfigError` from a file still as shipped ends
    with what to edit."""
    from stanzalink.config import ConfigError, folder_of, read_toml

    # once (it may be a pipe: /dev/stdin), and before the agent's modules
    # load: they take the memory the TOML parser leaves (config_toml.toml_loads)
    data = read_toml(path)
    from stanzalink.agent import parse_config

    hint = shipped_hint(data)
    try:
        cfg = parse_config(data, folder_of(path))
    except ConfigError as exc:
        if hint is None:
            raise
        raise ConfigError(f"{exc} ({hint})") from exc
    server = cfg.section("server")
    if hint is not None and not (server.get("host") or server.get("hosts")):
        raise ConfigError(f"account.jid: {SHIPPED_JID} is a placeholder ({hint})")
    return cfg


def run_log_handler(syslog: str | None = None) -> tuple[logging.Handler, OSError | None]:
    """The handler of the agent's log: stderr (systemd's journal takes it),
    or the syslog socket at ``syslog`` (a SysV image: busybox syslogd
    writes /var/log/messages); with it, why that syslog could not be
    reached (then the handler is stderr's).  Either way its lines escape
    what peers supply (:class:`stanzalink.logsafe.SafeFormatter`)."""
    import logging

    from stanzalink.logsafe import SafeFormatter

    if syslog is not None:
        # loaded only for --syslog (it loads logging.handlers, pickle, queue, socket)
        from stanzalink.cli.syslog_handler import syslog_handler

        handler, failed = syslog_handler(syslog)
        if handler is not None:
            return handler, None
    else:
        failed = None
    stderr = logging.StreamHandler()
    stderr.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return stderr, failed


def setup_run_logging(level: int, syslog: str | None = None) -> RecentLines:
    """The agent's log (:func:`run_log_handler`).  Without a syslog
    listening at ``syslog``, stderr, with a warning saying so.  The recent
    lines are also kept in memory, for the console's ``log``."""
    import logging

    from stanzalink.logring import RecentLines

    handler, failed = run_log_handler(syslog)
    recent = RecentLines()
    logging.basicConfig(level=level, handlers=[handler, recent])
    if failed is not None:
        logging.getLogger("stanzalink").warning(
            "no syslog at %s (%s): logging to stderr", syslog, failed.strerror or failed
        )
    return recent


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from stanzalink.config import ConfigError

    try:
        cfg = load_device_config(args.config)
    except ConfigError as exc:
        print(f"stanzalink: {args.config}: {exc}", file=sys.stderr)
        return 1
    from stanzalink.agent import Agent

    recent = setup_run_logging(
        getattr(logging, (args.log_level or cfg.section("log")["level"]).upper()), args.syslog
    )
    from stanzalink.errors import StanzalinkError

    if not any(cfg.access.values()):
        logging.getLogger("stanzalink").warning(
            "%s: [access] names no controllers: nobody can reach the device", args.config
        )

    try:
        agent = Agent(cfg, recent_log=recent)
    except StanzalinkError as exc:  # e.g. http.wsgi_app that cannot be imported
        print(f"stanzalink: {args.config}: {exc}", file=sys.stderr)
        return 1

    from stanzalink.aio.reconnect import configured_server

    c = agent.client.config
    logging.getLogger("stanzalink").info(
        "stanzalink %s starting: config %s, account %s, parser %s, server %s",
        __version__,
        args.config,
        cfg.jid,
        agent.client.session._parser.backend,
        configured_server(c),
    )
    # a service manager that starts the agent again after `restart`: systemd
    # (INVOCATION_ID, NOTIFY_SOCKET) or the SysV script (STANZALINK_SUPERVISED)
    supervised = any(
        os.environ.get(v) for v in ("INVOCATION_ID", "NOTIFY_SOCKET", "STANZALINK_SUPERVISED")
    )
    # systemd's Type=notify: READY, STATUS, WATCHDOG, STOPPING (docs/quickstart.md);
    # without its variables (sdnotify.ENV_KEYS) the notifier's code stays unloaded
    notifier = None
    if any(k in os.environ for k in NOTIFY_ENV_KEYS):
        from stanzalink.aio.sdnotify import Notifier

        notifier = Notifier.from_environ(unset=True)
    try:
        asyncio.run(run_agent(agent, notifier))
    except KeyboardInterrupt:  # before the agent's own signal handlers were set
        return 130
    restart = cfg.section("console")["restart_exit_code"]
    if agent.exit_code == restart and not supervised:
        logging.getLogger("stanzalink").warning(
            "restart asked for, and no service manager runs this agent (no systemd, no "
            "init script) to start it again: starting again in place"
        )
        logging.shutdown()
        os.execv(sys.executable, [sys.executable, "-m", "stanzalink", *sys.argv[1:]])
    return agent.exit_code


async def run_agent(agent: Agent, notifier: Notifier | None) -> None:
    """Run the agent and, when the service manager asked for it, tell it that
    the agent is up, what it is doing, that its event loop still turns (the
    watchdog pings ride the connection's wake-ups on that loop, with a
    fallback timer there), and when a requested stop begins.

    READY=1 comes when the connection loop starts, not when the login
    succeeds: a device without network is up and retrying, and systemd must
    not count that as a failed start."""
    import asyncio

    from stanzalink.session.events import Closed, Online

    if notifier is None:
        await agent.run()
        return

    def on_event(ev: object) -> None:
        if isinstance(ev, Online):
            notifier.status(f"online as {ev.jid}")
            # online, the keepalive wakes the agent: the watchdog rides it
            notifier.ride(agent.client.config.keepalive)
        elif isinstance(ev, Closed):
            notifier.status(f"offline: {ev.text}")
            notifier.ride(None)

    agent.client.on_event(on_event)
    agent.client.on_wake = notifier.alive
    stop = asyncio.Event()
    run = asyncio.ensure_future(agent.run(stop))
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.sleep(0)  # agent.run has started the connection loop
        if not run.done():
            notifier.ready(f"connecting as {agent.cfg.jid}")
            notifier.start_watchdog()
        await asyncio.wait({run, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if stopped.done() and not run.done():
            notifier.stopping("stopping")
        await run
    finally:
        stopped.cancel()
        notifier.close()
