"""An example console plugin: a fan on a PWM output.

Load it with ``[console] plugins = ["/etc/stanzalink/plugins/fan.py"]`` (or
a module path such as ``"acme.fan"``).  Its commands appear in the chat
console and as XEP-0050 ad-hoc commands, each for the role it names.

The PWM file is ``/sys/class/hwmon/hwmon0/pwm1`` unless ``FAN_PWM`` names
another (a plain file works for trying it out).  Duty cycles there run
0-255; the command takes percent.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from stanzalink.commands import Arg, CommandError, Invocation, KeyValue, command


def pwm_path() -> Path:
    return Path(os.environ.get("FAN_PWM", "/sys/class/hwmon/hwmon0/pwm1"))


def read_percent() -> int:
    try:
        raw = int(pwm_path().read_text().strip() or 0)
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot read the fan: {exc}") from None
    return round(raw * 100 / 255)


@command("fan", help="show the fan speed", read_only=True)  # runs even when late
def fan(inv: Invocation) -> KeyValue:
    return KeyValue([("fan", f"{read_percent()} %"), ("output", str(pwm_path()))])


@command(
    "fan-set",
    help="set the fan speed",
    role="operator",
    args=[Arg("percent", int, "duty cycle in percent", minimum=0, maximum=100)],
)
def fan_set(inv: Invocation) -> KeyValue:
    percent = inv.args["percent"]
    try:
        pwm_path().write_text(f"{round(percent * 255 / 100)}\n")
    except OSError as exc:
        raise CommandError(f"cannot set the fan: {exc}") from None
    return KeyValue([("fan", f"{read_percent()} %")], title="changed")


@command(
    "fan-test",
    help="run the fan at full speed for a while, then restore it",
    role="operator",
    long_running=True,
    args=[Arg("seconds", int, "how long", default=10, minimum=1, maximum=300)],
)
async def fan_test(inv: Invocation) -> str:
    before = pwm_path().read_text()
    pwm_path().write_text("255\n")
    try:
        for left in range(inv.args["seconds"], 0, -1):
            if left % 5 == 0:
                inv.progress(f"{left} s left")
            await asyncio.sleep(1)  # `cancel` interrupts this sleep
    finally:
        pwm_path().write_text(before)  # restored even when cancelled
    return "fan test done, speed restored"
