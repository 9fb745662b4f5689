"""Shared test configuration.

In CI (CI=true) or with STANZALINK_REQUIRE_NATIVE=1 a missing native module
is a failure, not a reason to test only the fallback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
# bench/ holds the deterministic corpus generator the differential tests share
sys.path.insert(0, str(ROOT / "bench"))
# the test kit is not installed with the package: where the tests run against an
# installed stanzalink (the cross-compiled wheel, the ptest package), it comes
# from agent/ beside them, after the installed package on the path
try:
    import stanzalink_testing  # noqa: F401
except ImportError:
    sys.path.append(str(ROOT / "agent"))

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=150
)
settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=300
)
# under qemu-user everything is ~10x slower
settings.register_profile(
    "qemu", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=40
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default")
)


def _native_required() -> bool:
    return bool(os.environ.get("CI")) or os.environ.get("STANZALINK_REQUIRE_NATIVE") == "1"


def pytest_configure(config: pytest.Config) -> None:
    from stanzalink.xml import _native

    if _native_required() and not _native.AVAILABLE:
        raise pytest.UsageError(
            f"the native module is required here but did not import: {_native.IMPORT_ERROR}"
        )


def expat_usable() -> bool:
    """False where libexpat defers small chunks and pyexpat cannot stop it
    (Debian 12's libexpat with Python 3.11.2): the fallback's delivery
    timing cannot hold there, as its docs and log warning say."""
    from stanzalink.xml.expat_backend import reparse_deferral_stuck

    return not reparse_deferral_stuck()


@pytest.fixture(params=["native", "expat"])
def backend(request: pytest.FixtureRequest) -> str:
    from stanzalink.xml import available_backends

    if request.param not in available_backends():
        pytest.skip("native module not built (allowed only outside CI)")
    if request.param == "expat" and not expat_usable():
        pytest.skip("this libexpat defers small chunks and pyexpat cannot turn that off")
    return str(request.param)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests in a fresh event loop (no plugin needed)."""
    import asyncio
    import inspect

    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    timeout = float(os.environ.get("STANZALINK_ASYNC_TEST_TIMEOUT", "120"))
    asyncio.run(asyncio.wait_for(pyfuncitem.obj(**kwargs), timeout))
    return True
