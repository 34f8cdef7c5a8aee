"""Benchmark the protocol layer: decoding, push latency and login time.

Measures, in one process on one core:
1. the captured status datagram (protocol.md §9 V1) through
   ``ChargerListener.datagram_received`` into a registered ``Charger``'s
   snapshot: datagrams per second, for payloads that change every time and
   for identical ones (goal >= 50,000/s);
2. a status change in the simulator -> the change listener, over loopback UDP:
   median and p99 (goal median < 2 ms);
3. with the charger's last address known, ``Charger.start()`` -> logged in with
   the first status: median over 50 runs (goal < 100 ms).

Run: ``.venv/bin/python scripts/benchmark_protocol.py``. Numbers only; speed is
never a test.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Sequence
import contextlib
from dataclasses import dataclass, replace
import os
from pathlib import Path
import socket
import statistics
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from custom_components.evse_master.protocol.charger import (
    Charger,
    ChargerState,
)
from custom_components.evse_master.protocol.enums import Command
from custom_components.evse_master.protocol.frame import (
    CHARGER_PASSWORD_FIELD,
    Datagram,
    decode_datagram,
)
from custom_components.evse_master.protocol.listener import (
    ChargerListener,
)
from custom_components.evse_master.protocol.messages import Status
from tests.simulator import (
    SimulatedCharger,
    SimulatorTimings,
)

SERIAL = "9181102751219513"
PASSWORD = "123456"
V1_STATUS = bytes.fromhex(
    "06010032009181102751219513ffffffffffff000401092e0000000000000002408158"
    "9258920102020d000000000b7b0f02"
)
"""protocol.md §9 V1: a captured 0x0004 SingleACStatus of a BESEN BS20."""
QUIET = SimulatorTimings(
    announce_interval=60,
    heading_interval=60,
    status_interval=60,
    charging_status_interval=60,
)
"""Only the benchmark's own changes are pushed."""


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the result table."""

    name: str
    result: str
    goal: str
    met: bool


def _pin_to_one_core() -> str:
    """Run on a single CPU where the OS allows it; returns a note for the table."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu}"


def _p99(samples: Sequence[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def _ack_sink() -> socket.socket:
    """A socket that receives the charger client's acks and is never read."""
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    return sink


# --- 1. decode throughput -----------------------------------------------------


def _varied_status_datagrams(count: int) -> list[bytes]:
    """V1 with the energy counter and voltage changed, so each is a new status."""
    base = decode_datagram(V1_STATUS)
    status = Status.parse(base.payload)
    assert status.total_energy is not None
    frames: list[bytes] = []
    for index in range(count):
        changed = replace(
            status,
            total_energy=round(status.total_energy + index * 0.01, 2),
            l1=replace(status.l1, voltage=220.0 + (index % 200) * 0.1),
        )
        frame = Datagram(
            base.serial, Command.STATUS, changed.build(), CHARGER_PASSWORD_FIELD
        )
        frames.append(frame.encode())
    return frames


async def _decode_rate(
    frames: Sequence[bytes], *, repeats: int = 5, send_acks: bool = True
) -> tuple[float, float, int]:
    """Best and median datagrams/s through the listener into a Charger.

    Every status is acked as in production; the acks go to a socket that is
    never read. ``send_acks=False`` closes the listener first, so each ack
    stops before the ``sendto`` system call. Also returns the number of state
    changes the listener reported in the timed loops.
    """
    listener = ChargerListener("127.0.0.1", 0)
    await listener.start()
    sink = _ack_sink()
    host, port = sink.getsockname()[:2]
    address = (str(host), int(port))
    charger = Charger(listener, SERIAL, PASSWORD, address=address)
    changes = 0

    def on_change(state: ChargerState) -> None:
        nonlocal changes
        changes += 1

    charger.add_listener(on_change)
    await charger.start(login=False)
    receive = listener.datagram_received
    rates: list[float] = []
    try:
        # Warm-up (the first datagram also flips online and the address).
        for data in frames[:100]:
            receive(data, address)
        if not send_acks:
            listener.close()
        changes = 0
        for _ in range(repeats):
            start = time.perf_counter()
            for data in frames:
                receive(data, address)
            rates.append(len(frames) / (time.perf_counter() - start))
    finally:
        await charger.close()
        listener.close()
        sink.close()
    return max(rates), statistics.median(rates), changes


# --- 2. push latency ------------------------------------------------------------


async def _push_latency(rounds: int) -> list[float]:
    """Milliseconds from a simulated status change to the change listener."""
    listener = ChargerListener("127.0.0.1", 0)
    await listener.start()
    sim = SimulatedCharger(
        SERIAL, PASSWORD, client_port=listener.local_address[1], timings=QUIET
    )
    await sim.start()
    charger = Charger(listener, SERIAL, PASSWORD, address=sim.address)
    loop = asyncio.get_running_loop()
    pending: asyncio.Future[float] | None = None

    def on_change(state: ChargerState) -> None:
        if pending is not None and not pending.done():
            pending.set_result(time.perf_counter())

    try:
        await charger.start()
        await _wait(charger, lambda s: s.logged_in and s.status is not None)
        await _wait(charger, lambda s: s.version is not None)
        charger.add_listener(on_change)
        samples: list[float] = []
        for index in range(rounds + 20):
            pending = loop.create_future()
            start = time.perf_counter()
            # 0.1 V steps: every push is a real change of the status.
            sim.set_measurements(voltage=200.0 + (index % 400) * 0.1)
            async with asyncio.timeout(5):
                end = await pending
            if index >= 20:  # warm-up
                samples.append((end - start) * 1000)
        return samples
    finally:
        await charger.close()
        await sim.stop()
        listener.close()


async def _wait(charger: Charger, predicate: Callable[[ChargerState], bool]) -> float:
    """perf_counter() at the first snapshot matching ``predicate``."""
    done: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    def check(state: ChargerState) -> None:
        if predicate(state) and not done.done():
            done.set_result(time.perf_counter())

    remove = charger.add_listener(check)
    check(charger.state)
    try:
        async with asyncio.timeout(10):
            return await done
    finally:
        remove()


# --- 3. start -> logged in with first status ----------------------------------------


async def _start_to_first_status(runs: int) -> tuple[list[float], list[float]]:
    """Milliseconds from start() to logged in + first status, and to all settings."""
    listener = ChargerListener("127.0.0.1", 0)
    await listener.start()
    sim = SimulatedCharger(
        SERIAL, PASSWORD, client_port=listener.local_address[1], timings=QUIET
    )
    await sim.start()
    address = sim.address
    first_status: list[float] = []
    everything: list[float] = []
    try:
        for _ in range(runs + 3):
            start = time.perf_counter()
            charger = Charger(listener, SERIAL, PASSWORD, address=address)
            await charger.start()
            status_at = await _wait(
                charger, lambda s: s.logged_in and s.status is not None
            )
            all_at = await _wait(
                charger,
                lambda s: (
                    s.version is not None
                    and s.session is not None
                    and s.settings.lcd_brightness is not None
                    and s.settings.nickname is not None
                ),
            )
            await charger.close()
            first_status.append((status_at - start) * 1000)
            everything.append((all_at - start) * 1000)
    finally:
        await sim.stop()
        listener.close()
    return first_status[3:], everything[3:]


# --- table ------------------------------------------------------------------------


async def _run(rounds: int, runs: int) -> list[Row]:
    rows: list[Row] = []
    frames = _varied_status_datagrams(20_000)
    for name, data, acks in (
        ("1a. V1 status -> snapshot, every one a change", frames, True),
        ("1b. V1 status -> snapshot, identical", [frames[0]] * len(frames), True),
        ("1c. as 1a, acks built but not sent (no sendto)", frames, False),
        ("1d. as 1b, acks built but not sent (no sendto)", [frames[0]] * 20_000, False),
    ):
        best, median, changes = await _decode_rate(data, send_acks=acks)
        rows.append(
            Row(
                name,
                f"{best:,.0f}/s best, {median:,.0f}/s median ({changes:,} changes)",
                ">= 50,000/s",
                best >= 50_000,
            )
        )

    latency = await _push_latency(rounds)
    median = statistics.median(latency)
    rows.append(
        Row(
            "2. sim status change -> change listener",
            f"median {median:.3f} ms, p99 {_p99(latency):.3f} ms (n={len(latency)})",
            "median < 2 ms",
            median < 2,
        )
    )

    first, everything = await _start_to_first_status(runs)
    median = statistics.median(first)
    rows.append(
        Row(
            "3. start() -> logged in with first status",
            f"median {median:.2f} ms, p99 {_p99(first):.2f} ms (n={len(first)})",
            "median < 100 ms",
            median < 100,
        )
    )
    rows.append(
        Row(
            "   start() -> settings, version, session too",
            f"median {statistics.median(everything):.2f} ms",
            "-",
            True,
        )
    )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1000, help="latency samples")
    parser.add_argument("--runs", type=int, default=50, help="start() samples")
    options = parser.parse_args(argv)
    pinned = _pin_to_one_core()
    with contextlib.suppress(KeyboardInterrupt):
        rows = asyncio.run(_run(options.rounds, options.runs))
        name_width = max(len(row.name) for row in rows)
        result_width = max(len(row.result) for row in rows)
        print(f"Python {sys.version.split()[0]}, {pinned}")
        print(f"{'benchmark':<{name_width}}  {'result':<{result_width}}  goal")
        print("-" * (name_width + result_width + 24))
        for row in rows:
            mark = "ok" if row.met else "MISSED"
            print(
                f"{row.name:<{name_width}}  {row.result:<{result_width}}"
                f"  {row.goal} {mark if row.goal != '-' else ''}".rstrip()
            )
        return 0
    return 130


if __name__ == "__main__":
    sys.exit(main())
