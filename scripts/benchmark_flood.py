"""Benchmark a packet flood against the listener (a listener no flood can take down).

Home Assistant core runs in this process with two config entries; two
simulated chargers in another process (``scripts/sim_fleet.py``) push a status
every ``--push-interval`` seconds that changes the lifetime energy (+0.01 kWh,
a state every push). A flooder, a third process started from this script,
sends ``--rate`` packets per second for ``--seconds`` from 127.0.0.2 and
127.0.0.3 to the listener on 127.0.0.1 (loopback only; it refuses any other
address), an even mix of

* random bytes (1 to 512 of them);
* login announcements (0x0001) with a new random serial each;
* status frames (0x0004) with random foreign serials;
* frames with the known serial of a configured charger and a junk payload
  (random charger command ids, random bytes);
* 4 KiB packets: random bytes, or packed with valid datagrams.

Per flood it prints, with the goals next to them (never asserted):

* pushes shown: lifetime-energy state writes / pushes the chargers sent
  during the flood (goal >= 90 %), and the same before the flood;
* event-loop lag: lateness of a callback scheduled every 5 ms, p50/p99/max
  (goal p99 <= 20 ms), before and during the flood;
* discovery flows in progress: the most at once during the flood and after
  it (cap: ``hub.MAX_PENDING_DISCOVERIES``), unconfigured serials remembered
  (cap ``hub.REMEMBERED_SERIALS``), flows started (cap
  ``hub.NEW_SERIALS_PER_MINUTE`` per minute);
* memory after a settle period against before the flood: RSS, pymalloc
  blocks and gc objects, next to a control period of the same length without
  a flood (goal: nothing left behind, that is no growth beyond the control's
  and no growth from one flood to the next);
* the kernel's drops on the listener socket, the CPU time of this process
  during the flood, the charger sessions lost, the datagrams the chargers
  dropped, and whether the impostor repair issue was raised.

Run: ``.venv/bin/python scripts/benchmark_flood.py`` (about 2 minutes), or
``--quick``. ``--tracemalloc`` also lists where memory grew (it slows
everything down: the lag numbers are not comparable then). All three
processes share the machine's cores: the numbers are noisy on a busy machine.
Numbers only; speed is never a test.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
import gc
import ipaddress
from pathlib import Path
import random
import socket
import statistics
import sys
import time
import tracemalloc
from typing import Final

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from homeassistant.config_entries import SOURCE_INTEGRATION_DISCOVERY
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.evse_master import hub as hub_module
from custom_components.evse_master.const import DOMAIN
from custom_components.evse_master.hub import async_get_hub
from custom_components.evse_master.protocol.charger import ChargerState
from custom_components.evse_master.protocol.enums import Command
from custom_components.evse_master.protocol.frame import (
    CHARGER_PASSWORD_FIELD,
    Datagram,
)
from scripts.benchmark_load import (
    WriteCounter,
    add_entries,
    home_assistant,
    load_average,
    loopback_listener,
    quiet_logs,
    wait_until_read,
)
from scripts.sim_fleet import Fleet, udp_socket_stats
from tests.helpers import free_udp_port
from tests.protocol.inprocess import INFO, status

SCRIPT: Final = Path(__file__).resolve()
SOURCES: Final = ("127.0.0.2", "127.0.0.3")
TARGET_HOST: Final = "127.0.0.1"
LAG_INTERVAL: Final = 0.005
KINDS: Final = ("random", "announcement", "foreign_status", "known_junk", "4k")
CHARGER_COMMANDS: Final = (
    Command.LOGIN_ANNOUNCEMENT,
    Command.LOGIN_RESPONSE,
    Command.HEADING,
    Command.STATUS,
    Command.CHARGING_STATUS,
    Command.STATUS_RESPONSE,
    Command.PASSWORD_ERROR,
    0x0009,  # ids no charger sends, and one far outside the table
    0x000A,
    0x7FFF,
)
"""Command ids of the junk frames: what chargers send, and ids nobody does."""


# --- the flooder's process ------------------------------------------------------------


def _random_serial(rng: random.Random) -> str:
    return f"{rng.getrandbits(64):016x}"


def build_packets(
    serial: str, rng: random.Random, per_kind: int
) -> dict[str, list[bytes]]:
    """``per_kind`` packets of every kind, built once before the flood."""
    info = INFO.build()
    status_payload = status().build()
    packets: dict[str, list[bytes]] = {kind: [] for kind in KINDS}
    for _ in range(per_kind):
        packets["random"].append(rng.randbytes(rng.randint(1, 512)))
        packets["announcement"].append(
            Datagram(_random_serial(rng), Command.LOGIN_ANNOUNCEMENT, info).encode()
        )
        packets["foreign_status"].append(
            Datagram(_random_serial(rng), Command.STATUS, status_payload).encode()
        )
        packets["known_junk"].append(
            Datagram(
                serial,
                rng.choice(CHARGER_COMMANDS),
                rng.randbytes(rng.randint(0, 200)),
                CHARGER_PASSWORD_FIELD,
            ).encode()
        )
        if rng.random() < 0.5:
            packets["4k"].append(rng.randbytes(4096))
        else:
            packed = b""
            while True:
                datagram = Datagram(
                    rng.choice((serial, _random_serial(rng))),
                    rng.choice(CHARGER_COMMANDS),
                    rng.randbytes(rng.randint(0, 120)),
                ).encode()
                if len(packed) + len(datagram) > 4096:
                    break
                packed += datagram
            packets["4k"].append(packed)
    return packets


def flood(port: int, serial: str, rate: float, seconds: float, seed: int) -> None:
    """Send ``rate`` packets a second for ``seconds`` to 127.0.0.1:``port``."""
    for host in (*SOURCES, TARGET_HOST):
        if not ipaddress.ip_address(host).is_loopback:
            raise SystemExit(f"refusing a non-loopback address: {host}")
    rng = random.Random(seed)
    packets = build_packets(serial, rng, per_kind=4000)
    senders = []
    for host in SOURCES:
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.bind((host, 0))
        senders.append(sender)
    target = (TARGET_HOST, port)
    sent: Counter[str] = Counter()
    errors = 0
    tick = 0.01
    per_tick = rate * tick
    print("flooding", flush=True)
    start = time.monotonic()
    due = 0.0
    index = 0
    while (now := time.monotonic() - start) < seconds:
        due += per_tick
        while index < due:
            kind = KINDS[index % len(KINDS)]
            pool = packets[kind]
            try:
                senders[index % len(senders)].sendto(pool[index % len(pool)], target)
            except OSError:
                errors += 1
            else:
                sent[kind] += 1
            index += 1
        # Sleep to the next tick; a late tick sends its backlog at once.
        next_tick = (now // tick + 1) * tick
        time.sleep(max(0.0, next_tick - (time.monotonic() - start)))
    elapsed = time.monotonic() - start
    total = sum(sent.values())
    kinds = " ".join(f"{kind}={sent[kind]}" for kind in KINDS)
    print(f"sent {total} {elapsed:.3f} {errors} {kinds}", flush=True)


# --- Home Assistant's side --------------------------------------------------------


class LagProbe:
    """Lateness of a callback the event loop should run every 5 ms."""

    def __init__(self) -> None:
        """Start probing."""
        self._loop = asyncio.get_running_loop()
        self.samples: list[float] = []
        self._due = self._loop.time() + LAG_INTERVAL
        self._handle = self._loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        now = self._loop.time()
        self.samples.append(now - self._due)
        self._due = now + LAG_INTERVAL
        self._handle = self._loop.call_at(self._due, self._tick)

    def take(self) -> list[float]:
        """Samples since the last call, in seconds."""
        samples, self.samples = self.samples, []
        return samples

    def stop(self) -> None:
        """Stop probing."""
        self._handle.cancel()


def _lag_text(samples: list[float]) -> tuple[str, float]:
    if not samples:
        return "no samples", 0.0
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    text = (
        f"p50 {statistics.median(ordered) * 1000:6.2f} ms  p99 {p99 * 1000:6.2f} ms"
        f"  max {ordered[-1] * 1000:7.2f} ms  (n={len(ordered)})"
    )
    return text, p99


@dataclass(frozen=True, slots=True)
class Memory:
    """What this process holds, after a full garbage collection."""

    rss: int
    """Bytes resident."""
    blocks: int
    """Memory blocks pymalloc has handed out."""
    objects: int
    """Objects the garbage collector tracks."""
    traced: int
    """Bytes tracemalloc traces (0 when it is off)."""

    @classmethod
    def now(cls) -> Memory:
        """Measure now."""
        gc.collect()
        rss = 0
        with open("/proc/self/status", encoding="ascii") as process_status:
            for line in process_status:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) * 1024
        traced = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else 0
        return cls(rss, sys.getallocatedblocks(), len(gc.get_objects()), traced)

    def minus(self, other: Memory) -> str:
        """The growth from ``other`` to this."""
        text = (
            f"RSS {(self.rss - other.rss) / 1024:+8.0f} KiB  "
            f"blocks {self.blocks - other.blocks:+7d}  "
            f"gc objects {self.objects - other.objects:+7d}"
        )
        if self.traced or other.traced:
            text += f"  traced {(self.traced - other.traced) / 1024:+8.1f} KiB"
        return text


class FlowWatch:
    """Discovery flows in progress and serials remembered, sampled every 50 ms."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Start sampling."""
        self._hass = hass
        self._hub = async_get_hub(hass)
        self.most = 0
        self.remembered = 0
        self.started: set[str] = set()
        self._task = hass.async_create_background_task(self._run(), "flow watch")

    def flows(self) -> int:
        """Discovery flows of the integration in progress now."""
        found = self._hass.config_entries.flow.async_progress_by_handler(
            DOMAIN,
            include_uninitialized=True,
            match_context={"source": SOURCE_INTEGRATION_DISCOVERY},
        )
        self.started.update(flow["flow_id"] for flow in found)
        return len(found)

    def reset(self) -> None:
        """Start a new period."""
        self.most = self.flows()
        self.remembered = self._hub.remembered_serials

    async def _run(self) -> None:
        while True:
            self.most = max(self.most, self.flows())
            self.remembered = max(self.remembered, self._hub.remembered_serials)
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        """Stop sampling."""
        self._task.cancel()


async def _run_flooder(
    port: int, serial: str, options: argparse.Namespace, seed: int
) -> tuple[asyncio.subprocess.Process, asyncio.StreamReader]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        "--flood-worker",
        str(port),
        f"--serial={serial}",
        f"--rate={options.rate}",
        f"--seconds={options.seconds}",
        f"--seed={seed}",
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    async with asyncio.timeout(120):
        line = (await process.stdout.readline()).decode().strip()
    if line != "flooding":
        raise RuntimeError(f"flooder: {line!r}")
    return process, process.stdout


async def run(options: argparse.Namespace) -> None:
    """Warm up, a control period, then the floods."""
    started = time.monotonic()
    port = free_udp_port()
    print(
        f"flood {options.rate:g} packets/s for {options.seconds:g} s from "
        f"{' and '.join(SOURCES)}; pushes every {options.push_interval:g} s from "
        f"2 chargers; settle {options.settle:g} s; load average {load_average()}"
    )
    with loopback_listener(port):
        fleet = await Fleet.start(2, port)
        try:
            async with home_assistant() as hass:
                entries = await add_entries(hass, fleet.chargers)
                if await wait_until_read(hass, entries, 30) != len(entries):
                    raise RuntimeError("the chargers were not read in time")
                await _measure(hass, fleet, entries, port, options)
                for entry in entries:
                    await hass.config_entries.async_unload(entry.entry_id)
        finally:
            await fleet.close()
    print(
        f"load average at the end {load_average()}; "
        f"{time.monotonic() - started:.0f} s in all"
    )


async def _pushes_shown(
    fleet: Fleet, writes: WriteCounter, seconds: float
) -> tuple[int, int]:
    sent_before, written_before = await fleet.sent(), writes.changed
    await asyncio.sleep(seconds)
    await asyncio.sleep(1.0)  # what was sent in time arrives
    return await fleet.sent() - sent_before, writes.changed - written_before


def _percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


async def _measure(
    hass: HomeAssistant,
    fleet: Fleet,
    entries: Sequence[MockConfigEntry],
    port: int,
    options: argparse.Namespace,
) -> None:
    registry = er.async_get(hass)
    shown = {
        entity
        for charger in fleet.chargers
        if (
            entity := registry.async_get_entity_id(
                "sensor", DOMAIN, f"{charger.serial}_lifetime_energy"
            )
        )
    }
    writes = WriteCounter(hass, shown)
    chargers = [entry.runtime_data.charger for entry in entries]
    losses = Counter[str]()

    def follow(serial: str) -> Callable[[ChargerState], None]:
        def on_state(state: ChargerState) -> None:
            if not state.logged_in:
                losses[serial] += 1

        return on_state

    removers = [charger.add_listener(follow(charger.serial)) for charger in chargers]
    probe = LagProbe()
    flows = FlowWatch(hass)
    await fleet.push(options.push_interval, "change")
    await asyncio.sleep(options.warmup)
    probe.take()

    # Before: pushes and lag without a flood.
    sent, written = await _pushes_shown(fleet, writes, options.seconds)
    lag_text, _ = _lag_text(probe.take())
    print(f"before    pushes shown {written}/{sent} = {_percent(written, sent):5.1f} %")
    print(f"          lag {lag_text}")

    # Control: memory over a period as long as a flood and its settling.
    if options.control:
        before = Memory.now()
        await asyncio.sleep(options.seconds + 1.0 + options.settle)
        print(f"control   memory {Memory.now().minus(before)}  (no flood)")

    if options.tracemalloc:
        tracemalloc.start(10)
    first = Memory.now()
    snapshot = tracemalloc.take_snapshot() if options.tracemalloc else None
    dropped_before = [Counter(charger.diagnostics.dropped) for charger in chargers]
    for round_number in range(1, options.floods + 1):
        before = Memory.now()
        kernel_before = udp_socket_stats(port)
        flows.reset()
        started_before = set(flows.started)
        process, output = await _run_flooder(
            port, fleet.chargers[0].serial, options, seed=round_number
        )
        # From the first packet on: the flooder's start (seconds of imports
        # and packet building) and the collection above are not the flood's.
        probe.take()
        sent_before, written_before = await fleet.sent(), writes.changed
        cpu_before, wall_before = time.process_time(), time.perf_counter()
        async with asyncio.timeout(options.seconds + 60):
            summary = (await output.readline()).decode().split()
            cpu = time.process_time() - cpu_before
            wall = time.perf_counter() - wall_before
            await process.wait()
        await asyncio.sleep(1.0)
        sent = await fleet.sent() - sent_before
        written = writes.changed - written_before
        lag_text, p99 = _lag_text(probe.take())
        most, remembered = flows.most, flows.remembered
        kernel_after = udp_socket_stats(port)
        await asyncio.sleep(options.settle)
        after = Memory.now()
        flows_after = flows.flows()
        new_flows = len(flows.started - started_before)
        percent = _percent(written, sent)
        cap = hub_module.MAX_PENDING_DISCOVERIES
        packets, elapsed, errors = int(summary[1]), float(summary[2]), summary[3]
        drops = (
            kernel_after.drops - kernel_before.drops
            if kernel_after and kernel_before
            else "?"
        )
        print(
            f"flood {round_number}   {packets} packets in {elapsed:.2f} s = "
            f"{packets / elapsed:,.0f}/s (send errors {errors}); "
            f"{' '.join(summary[4:])}"
        )
        print(
            f"          pushes shown {written}/{sent} = {percent:5.1f} %   "
            f"goal >= 90 %: {'met' if percent >= 90 else 'MISSED'}"
        )
        print(
            f"          lag {lag_text}   goal p99 <= 20 ms: "
            f"{'met' if p99 <= 0.020 else 'MISSED'}"
        )
        print(
            f"          discovery flows: most at once {most}, after {flows_after} "
            f"(cap {cap}: {'met' if max(most, flows_after) <= cap else 'EXCEEDED'});"
            f" started {new_flows} (cap {hub_module.NEW_SERIALS_PER_MINUTE}/min);"
            f" serials remembered {remembered} (cap {hub_module.REMEMBERED_SERIALS})"
        )
        print(
            f"          kernel drops on the listener socket +{drops}; CPU of this"
            f" process during the flood {100 * cpu / wall:.1f} % of one core"
        )
        print(
            f"          memory after {options.settle:g} s: {after.minus(before)}"
            f"  (since the first flood: {after.minus(first)})"
        )
        print(f"          load average {load_average()}", flush=True)
    for charger, dropped in zip(chargers, dropped_before, strict=True):
        grown = Counter(charger.diagnostics.dropped)
        grown.subtract(dropped)
        print(
            f"charger {charger.serial}: sessions lost {losses[charger.serial]}, "
            f"logged in {charger.state.logged_in}, impostor {charger.state.impostor}, "
            f"dropped {dict(+grown)}"
        )
    issues = [
        issue_id for (domain, issue_id) in ir.async_get(hass).issues if domain == DOMAIN
    ]
    print(f"repair issues: {sorted(issues)}")
    if snapshot is not None:
        growth = tracemalloc.take_snapshot().compare_to(snapshot, "lineno")
        print("tracemalloc: largest growth since before the first flood")
        for stat in growth[:12]:
            print(f"  {stat}")
        tracemalloc.stop()
    await fleet.stop_pushing()
    flows.stop()
    probe.stop()
    writes.remove()
    for remove in removers:
        remove()


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--rate", type=float, default=10_000.0, help="packets/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="of a flood")
    parser.add_argument("--floods", type=int, default=2)
    parser.add_argument("--push-interval", type=float, default=0.25, help="seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds")
    parser.add_argument(
        "--settle", type=float, default=20.0, help="seconds after a flood"
    )
    parser.add_argument(
        "--no-control",
        dest="control",
        action="store_false",
        help="skip the control period without a flood",
    )
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: one 3 s flood, 3 s settle, no control",
    )
    worker = parser.add_argument_group("flooder process (internal)")
    worker.add_argument("--flood-worker", type=int, metavar="PORT", help="be it")
    worker.add_argument("--serial", default="")
    worker.add_argument("--seed", type=int, default=1)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark (or, with ``--flood-worker``, be the flooder)."""
    options = build_parser().parse_args(argv)
    if options.flood_worker is not None:
        flood(
            options.flood_worker,
            options.serial,
            options.rate,
            options.seconds,
            options.seed,
        )
        return
    if options.quick:
        options.seconds, options.settle, options.floods = 3.0, 3.0, 1
        options.control, options.warmup = False, 1.0
    quiet_logs()
    asyncio.run(run(options))


if __name__ == "__main__":
    main()
