"""Benchmark the steady load of many chargers on a Home Assistant core.

Home Assistant core (the test harness's: no frontend, no HTTP) runs in this
process with one config entry per charger; the simulated chargers run in
another process (``scripts/sim_fleet.py``) and talk to it over loopback UDP.
For every cell of the matrix

* N chargers: 1, 10, 50
* recorder off / on (SQLite in a temporary directory, default settings)
* status pushes every 1 s / 5 s per charger, spread evenly
* what a push carries: ``change`` (the lifetime energy moves, one shown value,
  as while charging), ``noise`` (the inner temperature moves by 0.01 degC,
  below what is shown, as an idle charger's readings do) or ``same`` (the
  same payload again); plus, per N, a last ``idle`` cell without pushes
  (headings and charging status every 10 s only)

it prints, after a warm-up, over the measuring window:

* CPU seconds of this process (every thread: event loop, recorder,
  executor) per wall second, as % of one core, the kernel's share of it
  (system calls: receiving, sending over loopback, waiting; shown from
  0.25 s of CPU in a cell, as the kernel samples the split at clock ticks)
  and per push in ms;
* state writes of the integration's entities: ``state_changed`` events (a
  shown value changed) and ``state_reported`` events (a write that repeated
  what was shown: there should be none), and both per status push the
  chargers sent.

First it prints the machine's floor: the CPU an asyncio process with no work
spends receiving and answering as many datagrams per second as the busiest
cell's pushes (50 chargers every 1 s: 50/s). Every push pays it before the
integration runs; on a nested virtual machine it is most of a push's cost.

Goals (printed next to the numbers, never asserted): 50 chargers, 5 s pushes,
recorder on: < 2 % of one core; 50 chargers, 1 s pushes, recorder off:
<= 2 %. A ``change`` push should write one state; ``noise`` and ``same``
pushes none.

Run: ``.venv/bin/python scripts/benchmark_load.py`` (about 12 minutes; the
window lengths, counts, intervals and modes are options), or ``--quick`` for
a smoke run of about 3 minutes; ``--help`` for the knobs. The machine's load
average is printed with the results: other processes on the machine make the
numbers noisy. Numbers only; speed is never a test.

The Home Assistant side of the other ``benchmark_*.py`` scripts (the core,
the entries, waiting for them, counting writes) lives here too.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
import contextlib
import cProfile
from dataclasses import astuple, dataclass
import logging
import os
from pathlib import Path
import resource
import sqlite3
import sys
import tempfile
import time
from typing import Any, Final
from unittest.mock import patch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from homeassistant import loader
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    EVENT_STATE_CHANGED,
    EVENT_STATE_REPORTED,
)
from homeassistant.core import (
    Event,
    EventStateChangedData,
    EventStateEventData,
    EventStateReportedData,
    HomeAssistant,
    callback,
)
from homeassistant.helpers import entity_registry as er, recorder as recorder_helper
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.evse_master.const import CONF_PORT, CONF_SERIAL, DOMAIN
from custom_components.evse_master.protocol import const as protocol_const
from custom_components.evse_master.protocol.charger import ChargerState
from scripts.sim_fleet import MODES, PASSWORD, Fleet, FleetCharger, Mode
from tests.helpers import free_udp_port

SETUP_WAIT: Final = 60.0
"""Seconds all entries get to log in and read everything."""
SETTLE: Final = 12.0
"""Seconds between the setup and the first cell: the registries store their
changes 10 s after the last one, which is no steady load."""


# --- shared with the other benchmarks -------------------------------------------


@contextlib.contextmanager
def loopback_listener(port: int) -> Iterator[None]:
    """The integration's listener binds 127.0.0.1:``port`` (never 0.0.0.0)."""
    with (
        patch.object(protocol_const, "LISTEN_HOST", "127.0.0.1"),
        patch.object(protocol_const, "LISTEN_PORT", port),
    ):
        yield


@contextlib.asynccontextmanager
async def home_assistant(
    recorder_db: Path | None = None,
) -> AsyncIterator[HomeAssistant]:
    """Home Assistant core in this process; the recorder on ``recorder_db``."""
    async with async_test_home_assistant() as hass:
        # Load custom_components/ from this checkout, like the test fixtures do.
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
        try:
            if recorder_db is not None:
                # Bootstrap does this before any integration sets up.
                recorder_helper.async_initialize_recorder(hass)
                config = {"recorder": {"db_url": f"sqlite:///{recorder_db}"}}
                if not await async_setup_component(hass, "recorder", config):
                    raise RuntimeError("the recorder did not set up")
                await hass.data[recorder_helper.DATA_RECORDER].db_connected
                await hass.async_block_till_done()
            yield hass
        finally:
            await hass.async_stop(force=True)


def everything_read(state: ChargerState) -> bool:
    """Logged in, with status, session, version and every setting read."""
    return (
        state.logged_in
        and None not in (state.status, state.session, state.version)
        and None not in astuple(state.settings)
    )


def charger_entry(charger: FleetCharger) -> MockConfigEntry:
    """A config entry for ``charger`` with its address known."""
    return MockConfigEntry(
        domain=DOMAIN,
        unique_id=charger.serial,
        title=f"Charger {charger.serial[-4:]}",
        data={
            CONF_SERIAL: charger.serial,
            CONF_PASSWORD: PASSWORD,
            CONF_HOST: charger.host,
            CONF_PORT: charger.port,
        },
        minor_version=2,
    )


async def add_entries(
    hass: HomeAssistant, chargers: Sequence[FleetCharger]
) -> list[MockConfigEntry]:
    """Add an entry per charger, then set them all up at once (as at start)."""
    entries = [charger_entry(charger) for charger in chargers]
    # All entries exist before the first opens the listener: announcements of
    # the others are then not offered as discoveries.
    for entry in entries:
        entry.add_to_hass(hass)
    await asyncio.gather(
        *(hass.config_entries.async_setup(entry.entry_id) for entry in entries)
    )
    return entries


async def wait_until_read(
    hass: HomeAssistant, entries: Sequence[MockConfigEntry], seconds: float
) -> int:
    """Wait until every entry read everything; how many did in ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        done = sum(
            1
            for entry in entries
            if getattr(entry, "runtime_data", None) is not None
            and everything_read(entry.runtime_data.charger.state)
        )
        if done == len(entries) or time.monotonic() >= deadline:
            await hass.async_block_till_done()
            return done
        await asyncio.sleep(0.1)


class WriteCounter:
    """Counts the state writes of a set of entities.

    ``state_changed`` when the state or its attributes changed,
    ``state_reported`` when a write repeated them (Home Assistant then moves
    ``last_reported`` only, which the recorder stores all the same).
    """

    def __init__(self, hass: HomeAssistant, entity_ids: set[str]) -> None:
        """Start counting."""
        self.entity_ids = entity_ids
        self.changed = 0
        self.reported = 0
        self._removers = (
            hass.bus.async_listen(EVENT_STATE_CHANGED, self._on_changed, self._ours),
            hass.bus.async_listen(EVENT_STATE_REPORTED, self._on_reported, self._ours),
        )

    @callback
    def _ours(self, event_data: EventStateEventData) -> bool:
        return event_data["entity_id"] in self.entity_ids

    @callback
    def _on_changed(self, _event: Event[EventStateChangedData]) -> None:
        self.changed += 1

    @callback
    def _on_reported(self, _event: Event[EventStateReportedData]) -> None:
        self.reported += 1

    def remove(self) -> None:
        """Stop counting."""
        for remove in self._removers:
            remove()


def load_average() -> str:
    """The 1, 5 and 15 minute load averages."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def quiet_logs() -> None:
    """Warnings and errors only; not the custom-integration notice per start."""
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("homeassistant.loader").setLevel(logging.ERROR)
    # Says once per core that the websocket compression is slower without
    # zlib-ng; nothing here uses it.
    logging.getLogger("aiohttp_fast_zlib").setLevel(logging.ERROR)


# --- the matrix -----------------------------------------------------------------


def integration_entities(hass: HomeAssistant) -> set[str]:
    """Entity ids of every enabled entity of the integration."""
    registry = er.async_get(hass)
    return {
        entity.entity_id
        for entity in registry.entities.values()
        if entity.platform == DOMAIN and entity.disabled_by is None
    }


_SAMPLED_ENOUGH: Final = 0.25
"""CPU seconds below which the user/system split is not shown."""


@dataclass(frozen=True, slots=True)
class Cell:
    """One measurement."""

    chargers: int
    recorder: bool
    interval: float | None
    """Seconds between two pushes of a charger; ``None``: no pushes."""
    mode: Mode | None
    cpu_seconds: float
    kernel_seconds: float
    """The part of ``cpu_seconds`` spent in the kernel (system time)."""
    wall_seconds: float
    pushes: int
    changed: int
    """``state_changed`` events of the integration's entities."""
    reported: int
    """``state_reported`` events: writes that repeated what was shown."""
    load: str

    @property
    def cpu_percent(self) -> float:
        """CPU time per wall time, % of one core."""
        return 100.0 * self.cpu_seconds / self.wall_seconds

    @property
    def kernel_share(self) -> str:
        """The kernel's share of the CPU time, where there is enough to tell."""
        # The kernel splits a process's time into user and system time by
        # sampling at clock ticks: a few samples say nothing.
        if self.cpu_seconds < _SAMPLED_ENOUGH:
            return "-"
        return f"{100.0 * self.kernel_seconds / self.cpu_seconds:.0f} %"

    def goal(self) -> str:
        """The goal this cell is measured against, and whether it was met."""
        if self.chargers != 50 or self.interval is None:
            return ""
        if self.interval == 5 and self.recorder:
            met = self.cpu_percent < 2.0
            return f"goal < 2 %: {'met' if met else 'MISSED'}"
        if self.interval == 1 and not self.recorder:
            met = self.cpu_percent <= 2.0
            return f"goal <= 2 %: {'met' if met else 'MISSED'}"
        return ""

    def line(self) -> str:
        """One row of the table."""
        interval = "-" if self.interval is None else f"{self.interval:g} s"
        if self.pushes:
            per_push = f"{1000 * self.cpu_seconds / self.pushes:7.3f}"
            writes = f"{(self.changed + self.reported) / self.pushes:7.3f}"
        else:
            per_push = writes = f"{'-':>7}"
        return (
            f"{self.chargers:>4} {'on' if self.recorder else 'off':>8} "
            f"{interval:>6} {self.mode or 'idle':>6} {self.cpu_percent:>7.2f} % "
            f"{self.kernel_share:>8} {per_push} "
            f"{self.pushes:>7} {self.changed:>7} {self.reported:>5} "
            f"{writes}   {self.load:<15} {self.goal()}"
        )


HEADER: Final = (
    "   N recorder   push   mode     CPU  kernel  ms/push  pushed changed  rep."
    "  w/push   load avg        goal"
)


async def measure(
    fleet: Fleet,
    writes: WriteCounter,
    seconds: float,
    profiler: cProfile.Profile | None = None,
) -> tuple[float, float, float, int, int, int]:
    """CPU, kernel and wall seconds, pushes, changed and reported states.

    With a ``profiler``, the event loop thread is profiled over the window
    (the CPU numbers then include the profiler's own cost).
    """
    sent_before = await fleet.sent()
    changed_before, reported_before = writes.changed, writes.reported
    cpu_before = time.process_time()
    kernel_before = resource.getrusage(resource.RUSAGE_SELF).ru_stime
    wall_before = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    await asyncio.sleep(seconds)
    if profiler is not None:
        profiler.disable()
    cpu = time.process_time() - cpu_before
    kernel = resource.getrusage(resource.RUSAGE_SELF).ru_stime - kernel_before
    wall = time.perf_counter() - wall_before
    sent = await fleet.sent() - sent_before
    changed = writes.changed - changed_before
    return cpu, kernel, wall, sent, changed, writes.reported - reported_before


async def run_group(
    options: argparse.Namespace, chargers: int, recorder: bool, port: int
) -> None:
    """Every cell of one charger count and recorder setting, printed."""
    with contextlib.ExitStack() as stack:
        recorder_db: Path | None = None
        if recorder:
            folder = stack.enter_context(tempfile.TemporaryDirectory())
            recorder_db = Path(folder) / "home-assistant_v2.db"
        fleet = await Fleet.start(chargers, port)
        try:
            async with home_assistant(recorder_db) as hass:
                entries = await add_entries(hass, fleet.chargers)
                ready = await wait_until_read(hass, entries, SETUP_WAIT)
                if ready != chargers:
                    print(f"  only {ready} of {chargers} chargers were read in time")
                writes = WriteCounter(hass, integration_entities(hass))
                await asyncio.sleep(SETTLE)

                async def cell(interval: float | None, mode: Mode | None) -> None:
                    await asyncio.sleep(options.warmup)
                    profiler = None if options.profile is None else cProfile.Profile()
                    measured = await measure(fleet, writes, options.measure, profiler)
                    if profiler is not None:
                        name = f"{chargers}-{'on' if recorder else 'off'}-"
                        name += f"{interval or 0:g}-{mode or 'idle'}.prof"
                        profiler.dump_stats(options.profile / name)
                    print(
                        Cell(
                            chargers,
                            recorder,
                            interval,
                            mode,
                            *measured,
                            load_average(),
                        ).line(),
                        flush=True,
                    )

                for interval in options.intervals:
                    for mode in options.modes:
                        await fleet.push(interval, mode)
                        await cell(interval, mode)
                        await fleet.stop_pushing()
                # Last: right after the setup the recorder is still storing
                # the first states and the registries are being saved.
                await cell(None, None)
                writes.remove()
                for entry in entries:
                    await hass.config_entries.async_unload(entry.entry_id)
            if recorder_db is not None:
                print(f"  the recorder stored {recorded_states(recorder_db)} states")
        finally:
            await fleet.close()


def recorded_states(database: Path) -> int:
    """Rows in the recorder's ``states`` table (proof that it recorded)."""
    with contextlib.closing(sqlite3.connect(database)) as connection:
        (rows,) = connection.execute("SELECT COUNT(*) FROM states").fetchone()
    return int(rows)


_PACED_SENDER: Final = """
import socket, sys, time
port, rate, seconds = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
start, sent = time.monotonic(), 0
while time.monotonic() - start < seconds:
    sock.sendto(bytes(60), ("127.0.0.1", port))
    sent += 1
    time.sleep(max(0.0, start + sent / rate - time.monotonic()))
"""


class _Answering(asyncio.DatagramProtocol):
    """Answers every datagram with 20 bytes, as an acknowledgement would."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.received = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.DatagramTransport)
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.received += 1
        assert self.transport is not None
        self.transport.sendto(data[:20], addr)


async def platform_floor(rate: float, seconds: float) -> str:
    """What receiving and answering ``rate`` datagrams/s costs with no work at all.

    This process's event loop (Home Assistant not started yet) answers
    datagrams that another process sends evenly spread: the machine's price
    of a wake-up, a ``recvfrom`` and a ``sendto``, which every cell pays per
    push before the integration does anything.
    """
    loop = asyncio.get_running_loop()
    transport, answering = await loop.create_datagram_endpoint(
        _Answering, local_addr=("127.0.0.1", 0)
    )
    port = transport.get_extra_info("sockname")[1]
    sender = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _PACED_SENDER, str(port), str(rate), str(seconds + 2)
    )
    try:
        await asyncio.sleep(1.0)
        received, cpu = answering.received, time.process_time()
        wall = time.perf_counter()
        await asyncio.sleep(seconds)
        cpu = time.process_time() - cpu
        wall = time.perf_counter() - wall
        received = answering.received - received
    finally:
        await sender.wait()
        transport.close()
    return (
        f"platform floor: an asyncio process answering {rate:g} datagrams/s and "
        f"doing nothing else: {100 * cpu / wall:.2f} % of one core, "
        f"{1000 * cpu / max(received, 1):.3f} ms per datagram"
    )


async def run(options: argparse.Namespace) -> None:
    """The whole matrix, printed as it goes."""
    started = time.monotonic()
    print(
        f"warm-up {options.warmup:g} s, measuring {options.measure:g} s per cell; "
        f"{os.cpu_count()} CPUs; load average at start {load_average()}"
    )
    rate = max(options.counts) / min(options.intervals)
    print(await platform_floor(rate, options.measure), flush=True)
    print(HEADER, flush=True)
    for recorder in options.recorder:
        for chargers in options.counts:
            port = free_udp_port()
            with loopback_listener(port):
                await run_group(options, chargers, recorder, port)
    print(
        f"load average at the end {load_average()}; "
        f"{time.monotonic() - started:.0f} s in all"
    )


def _listed[T](kind: Callable[[str], T]) -> Callable[[str], list[T]]:
    """A parser of a comma-separated list of ``kind``."""

    def parse(text: str) -> list[T]:
        return [kind(part) for part in text.split(",") if part]

    return parse


def _recorder(text: str) -> bool:
    choices = {"off": False, "on": True}
    if text not in choices:
        raise argparse.ArgumentTypeError(f"not on or off: {text!r}")
    return choices[text]


def _mode(text: str) -> Mode:
    for mode in MODES:
        if text == mode:
            return mode
    raise argparse.ArgumentTypeError(f"not one of {', '.join(MODES)}: {text!r}")


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--counts", type=_listed(int), default=[1, 10, 50], help="chargers, e.g. 1,50"
    )
    parser.add_argument(
        "--recorder",
        type=_listed(_recorder),
        default=[False, True],
        help="off, on or off,on",
    )
    parser.add_argument(
        "--intervals",
        type=_listed(float),
        default=[1.0, 5.0],
        help="seconds between two pushes of a charger, e.g. 1,5",
    )
    parser.add_argument(
        "--modes",
        type=_listed(_mode),
        default=list(MODES),
        help=f"what a push changes: some of {','.join(MODES)}",
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds")
    parser.add_argument("--measure", type=float, default=12.0, help="seconds")
    parser.add_argument(
        "--profile",
        type=Path,
        help="folder for one cProfile file per cell (pstats; snakeviz reads them)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1 s warm-up, 3 s per cell",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the table."""
    options = build_parser().parse_args(argv)
    quiet_logs()
    if options.quick:
        options.warmup, options.measure = 1.0, 3.0
    if options.profile is not None:
        options.profile.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(options))


if __name__ == "__main__":
    main()
