"""Benchmark many chargers logging in at once against one listener.

Home Assistant core runs in this process with 50 config entries (addresses
known); 50 simulated chargers run in another process (``scripts/sim_fleet.py``)
on loopback. Two scenarios:

* ``start``: every entry sets up at the same moment, as when Home Assistant
  starts: 50 RequestLogins go out at once, 50 LoginResponses come back, then
  every charger's status, settings and version are read (paced).
* ``reboot``: with all entries loaded, every charger drops its client and
  announces itself at the same moment, as when the power comes back after a
  cut; the integration logs in to all of them again.

For each it prints the kernel's drop counter of the listener socket (the
``drops`` column of its row in ``/proc/net/udp``) before and after, the
largest receive queue seen (sampled every 2 ms), and how many chargers had a
status (a 0x0004/0x000D datagram reached the listener after the start of the
scenario, and the charger is logged in) within ``--within`` seconds, with the
median and slowest times to login, status and everything read.

Run: ``.venv/bin/python scripts/benchmark_logins.py`` (about 90 seconds), or
``--quick``. It runs twice: with the receive buffer the listener asks for
(4 MiB) and with 212,992 B, Linux's usual ``rmem_max``, which is all a
process without CAP_NET_ADMIN gets on a default kernel; ``--receive-buffers``
picks others (the kernel doubles what is asked; the granted size is printed).
Numbers only; speed is never a test.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Sequence
import contextlib
from dataclasses import dataclass, field
import logging
from pathlib import Path
import statistics
import sys
import threading
import time
from typing import Final
from unittest.mock import patch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.evse_master.const import LOGGER
from custom_components.evse_master.hub import async_get_hub
from custom_components.evse_master.protocol import listener as listener_module
from custom_components.evse_master.protocol.charger import ChargerState
from custom_components.evse_master.protocol.enums import Command
from custom_components.evse_master.protocol.frame import Datagram
from custom_components.evse_master.protocol.listener import Address
from scripts.benchmark_load import (
    charger_entry,
    home_assistant,
    load_average,
    loopback_listener,
    quiet_logs,
    wait_until_read,
)
from scripts.sim_fleet import Fleet, udp_socket_stats
from tests.helpers import free_udp_port

_STATUSES: Final = frozenset({Command.STATUS, Command.STATUS_RESPONSE})


@dataclass(slots=True)
class Arrivals:
    """Seconds from the start of a scenario to each charger's milestones."""

    start: float = 0.0
    login: dict[str, float] = field(default_factory=dict)
    """LoginResponse reached the listener."""
    status: dict[str, float] = field(default_factory=dict)
    """First status (0x0004 or 0x000D) after the login reply."""
    read: dict[str, float] = field(default_factory=dict)
    """The version reply after the login reply: the last of the paced reads."""
    logged_in: dict[str, float] = field(default_factory=dict)
    """The charger's snapshot says logged in (again)."""
    lost: set[str] = field(default_factory=set)

    def reset(self) -> None:
        """Start a new scenario now."""
        self.start = time.perf_counter()
        for times in (self.login, self.status, self.read, self.logged_in):
            times.clear()
        self.lost.clear()

    def handler(self, serial: str) -> Callable[[Datagram, Address], None]:
        """A listener handler that notes ``serial``'s datagrams."""

        def on_datagram(datagram: Datagram, _source: Address) -> None:
            now = time.perf_counter() - self.start
            command = datagram.command
            if command == Command.LOGIN_RESPONSE:
                self.login.setdefault(serial, now)
            elif serial not in self.login:
                return
            elif command in _STATUSES:
                self.status.setdefault(serial, now)
            elif command == Command.VERSION_RESPONSE:
                self.read.setdefault(serial, now)

        return on_datagram

    def state_listener(
        self, serial: str, *, after_loss: bool
    ) -> Callable[[ChargerState], None]:
        """A charger state listener that notes the (next) login."""

        def on_state(state: ChargerState) -> None:
            if not state.logged_in:
                self.lost.add(serial)
            elif not after_loss or serial in self.lost:
                self.logged_in.setdefault(serial, time.perf_counter() - self.start)

        return on_state


class LossWarnings(logging.Filter):
    """Counts the integration's "went away" warnings and keeps them out of sight.

    A reboot makes every charger go away on purpose: 50 such lines would bury
    the results. Any other warning still shows.
    """

    def __init__(self) -> None:
        """Count from zero."""
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        """Count and drop a "went away" warning; let anything else through."""
        if str(record.msg).startswith("Charger %s went away"):
            self.count += 1
            return False
        return True


class QueueSampler:
    """Samples the listener socket's receive queue in a thread (every 2 ms)."""

    def __init__(self, port: int) -> None:
        """Start sampling."""
        self._port = port
        self.largest = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            stats = udp_socket_stats(self._port)
            if stats is not None:
                self.largest = max(self.largest, stats.rx_queue)

    def stop(self) -> int:
        """Stop; the largest queue seen, in bytes."""
        self._stop.set()
        self._thread.join()
        return self.largest


def _drops(port: int) -> int:
    stats = udp_socket_stats(port)
    return 0 if stats is None else stats.drops


def _times(values: dict[str, float], count: int) -> str:
    if not values:
        return f"0/{count}"
    ordered = sorted(values.values())
    return (
        f"{len(ordered)}/{count} median {statistics.median(ordered) * 1000:6.0f} ms"
        f" max {ordered[-1] * 1000:6.0f} ms"
    )


def _report(
    name: str,
    arrivals: Arrivals,
    *,
    count: int,
    within: float,
    drops: tuple[int, int],
    queue: int,
    buffer: int,
    losses: int,
) -> None:
    status_in_time = sum(
        1
        for serial, at in arrivals.status.items()
        if at <= within and arrivals.logged_in.get(serial, within + 1) <= within
    )
    print(
        f"{name:<8} chargers {count}  receive buffer {buffer} B  "
        f"kernel drops {drops[0]} -> {drops[1]} (+{drops[1] - drops[0]})  "
        f"largest receive queue {queue} B  load {load_average()}"
    )
    print(
        f"  status within {within:g} s: {status_in_time}/{count}  "
        f"(went-away warnings: {losses})"
    )
    print(f"  login reply   {_times(arrivals.login, count)}")
    print(f"  logged in     {_times(arrivals.logged_in, count)}")
    print(f"  first status  {_times(arrivals.status, count)}")
    print(f"  all read      {_times(arrivals.read, count)}", flush=True)


async def _settle(arrivals: Arrivals, count: int, within: float) -> None:
    """Wait until every charger was read, or ``within`` passed, and a bit more."""
    deadline = arrivals.start + within
    while True:
        if len(arrivals.read) >= count or time.perf_counter() >= deadline:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)


async def run_once(options: argparse.Namespace, port: int) -> None:
    """Both scenarios on a fresh Home Assistant and a fresh fleet."""
    count: int = options.chargers
    within: float = options.within
    fleet = await Fleet.start(count, port)
    losses = LossWarnings()
    LOGGER.addFilter(losses)
    try:
        async with home_assistant() as hass:
            arrivals = Arrivals()
            listener = async_get_hub(hass).shared.listener
            for charger in fleet.chargers:
                listener.register(charger.serial, arrivals.handler(charger.serial))
            entries = [charger_entry(charger) for charger in fleet.chargers]
            for entry in entries:
                entry.add_to_hass(hass)

            # start: every entry sets up at once.
            before = _drops(port)
            sampler = QueueSampler(port)
            arrivals.reset()
            setups = asyncio.gather(
                *(hass.config_entries.async_setup(entry.entry_id) for entry in entries)
            )
            await _follow_setups(entries, arrivals)
            await setups
            await _settle(arrivals, count, within)
            drops = (before, _drops(port))
            queue = sampler.stop()
            granted = listener.receive_buffer
            _report(
                "start",
                arrivals,
                count=count,
                within=within,
                drops=drops,
                queue=queue,
                buffer=granted,
                losses=losses.count,
            )

            for round_number in range(options.rounds):
                await wait_until_read(hass, entries, within)
                await asyncio.sleep(options.pause)
                removers = [
                    entry.runtime_data.charger.add_listener(
                        arrivals.state_listener(entry.unique_id or "", after_loss=True)
                    )
                    for entry in entries
                ]
                before = _drops(port)
                sampler = QueueSampler(port)
                arrivals.reset()
                losses.count = 0
                await fleet.reboot()
                await _settle(arrivals, count, within)
                drops = (before, _drops(port))
                queue = sampler.stop()
                for remove in removers:
                    remove()
                name = f"reboot {round_number + 1}"
                _report(
                    name,
                    arrivals,
                    count=count,
                    within=within,
                    drops=drops,
                    queue=queue,
                    buffer=granted,
                    losses=losses.count,
                )
            for entry in entries:
                await hass.config_entries.async_unload(entry.entry_id)
    finally:
        LOGGER.removeFilter(losses)
        await fleet.close()


async def _follow_setups(
    entries: Sequence[MockConfigEntry], arrivals: Arrivals
) -> None:
    """Follow each charger's state as soon as its entry has one (5 ms polls)."""
    pending = {entry.entry_id: entry for entry in entries}
    deadline = time.monotonic() + 30
    while pending and time.monotonic() < deadline:
        for entry_id, entry in list(pending.items()):
            runtime = getattr(entry, "runtime_data", None)
            if runtime is None:
                continue
            follow = arrivals.state_listener(entry.unique_id or "", after_loss=False)
            entry.async_on_unload(runtime.charger.add_listener(follow))
            follow(runtime.charger.state)
            del pending[entry_id]
        await asyncio.sleep(0.005)


async def run(options: argparse.Namespace) -> None:
    """Every receive buffer size."""
    started = time.monotonic()
    print(f"load average at start {load_average()}")
    for buffer in options.receive_buffers:
        port = free_udp_port()
        with contextlib.ExitStack() as stack:
            stack.enter_context(loopback_listener(port))
            if buffer is not None:
                stack.enter_context(
                    patch.object(listener_module, "RECEIVE_BUFFER", buffer)
                )
            await run_once(options, port)
    print(
        f"load average at the end {load_average()}; "
        f"{time.monotonic() - started:.0f} s in all"
    )


def _buffers(text: str) -> list[int | None]:
    return [
        None if part == "default" else int(part) for part in text.split(",") if part
    ]


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--chargers", type=int, default=50)
    parser.add_argument(
        "--within", type=float, default=5.0, help="seconds a status may take"
    )
    parser.add_argument("--rounds", type=int, default=2, help="reboots")
    parser.add_argument(
        "--pause",
        type=float,
        default=16.0,
        help="seconds from all read to the next reboot; below the charger's "
        "relogin cooldown (15 s) the next login waits for it, below 3 s the "
        "announcement is ignored as stale",
    )
    parser.add_argument(
        "--receive-buffers",
        type=_buffers,
        default=[None, 212992],
        help="listener receive buffers to ask for, comma separated; "
        "'default' is the listener's own (4 MiB)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="one reboot, the default buffer only"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the results."""
    options = build_parser().parse_args(argv)
    if options.quick:
        options.rounds, options.receive_buffers = 1, [None]
    quiet_logs()
    asyncio.run(run(options))


if __name__ == "__main__":
    main()
