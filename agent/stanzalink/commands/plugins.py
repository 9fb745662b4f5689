"""The device's registry: the built-in commands plus the custom commands of
``[console] plugins``, registered into the agent's own :class:`Registry`.

A plugin is a module path (``acme.fan``) or a ``.py`` file (relative to
the config file's folder) whose handlers :func:`~stanzalink.commands.command`
marked; see ``docs/console.md``.  The module is imported once per process;
its commands are registered into every registry that loads it.  A broken
plugin is logged and skipped.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from stanzalink.commands import builtin
from stanzalink.commands.registry import Registry
from stanzalink.commands.settings import Settings

if TYPE_CHECKING:
    from stanzalink.config import DeviceConfig

log = logging.getLogger(__name__)


def registry_for(config: DeviceConfig) -> Registry:
    """A new registry with the built-in commands and the plugins ``config`` names."""
    registry = builtin.install(Registry())
    for spec in Settings.of(config.section("console")).plugins:
        load_plugin(registry, spec, config.base)
    return registry


def import_plugin(spec: str, base: str | Path | None) -> ModuleType:
    """The plugin module ``spec`` (a module path, or a file relative to ``base``)."""
    if not (spec.endswith(".py") or "/" in spec):
        return importlib.import_module(spec)
    path = Path(spec)
    if not path.is_absolute() and base is not None:
        path = base / path
    name = "stanzalink_plugin_" + re.sub(r"\W", "_", str(path.resolve()))
    if name in sys.modules:
        return sys.modules[name]
    loader = importlib.util.spec_from_file_location(name, path)
    if loader is None or loader.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(loader)
    sys.modules[name] = module
    try:
        loader.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_plugin(registry: Registry, spec: str, base: str | Path | None = None) -> None:
    """Import the plugin ``spec`` and register its commands into ``registry``;
    a plugin that fails is logged and skipped."""
    try:
        registry.add_module(import_plugin(spec, base))
        log.info("console plugin %s loaded", spec)
    except Exception:
        log.exception("console plugin %s could not be loaded", spec)
