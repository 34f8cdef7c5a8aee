"""Simulated chargers for the benchmarks, in a process of their own.

The benchmarks measure the CPU time of the Home Assistant process, so the
chargers it talks to must not run in it. This module is both sides:

* run as a script, it hosts ``--count`` :class:`SimulatedCharger` objects on
  one event loop and takes commands, one per line, on standard input::

      push INTERVAL MODE   status pushes every INTERVAL s per charger,
                           staggered; MODE is one of
                             change  lifetime energy +0.01 kWh per push (one
                                     shown value moves, as while charging)
                             noise   inner temperature 25.00 <-> 25.01 degC
                                     (the payload differs, nothing shown
                                     does, as an idle charger's readings)
                             same    the same payload every time
      count                -> "count N": pushes sent since "push"
      stop                 stop pushing -> "sent N"
      reboot               every charger drops its client and announces
      quit                 stop the chargers and exit

  It prints ``charger SERIAL HOST PORT`` per charger and then ``ready``.
  Every charger binds 127.0.0.1 and talks to 127.0.0.1 only.
* :class:`Fleet` starts that process and talks to it (used by the
  ``benchmark_*.py`` scripts), and :func:`udp_socket_stats` reads the kernel's
  counters of a socket.

By hand: ``.venv/bin/python scripts/sim_fleet.py --count 3 --client-port
28376``, then type commands.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
import sys
from typing import Final, Literal, Self

SCRIPT: Final = Path(__file__).resolve()
ROOT: Final = SCRIPT.parent.parent
sys.path.insert(0, str(ROOT))

from tests.simulator import SimulatedCharger, SimulatorTimings  # noqa: E402

FIRST_SERIAL: Final = 9181102751219513
"""Serials are consecutive decimal numbers from this one (valid hex digits)."""
PASSWORD: Final = "123456"
HOST: Final = "127.0.0.1"
"""Loopback only: the chargers bind here and send nowhere else."""
NO_PUSHES: Final = 24 * 3600.0
"""The simulator's own status timer: off (the fleet pushes on its schedule)."""

type Mode = Literal["change", "noise", "same"]
MODES: Final[tuple[Mode, ...]] = ("change", "noise", "same")
ENERGY_STEP: Final = 0.01
"""KWh per "change" push: the lifetime energy sensor shows two decimals."""
NOISE: Final = (25.0, 25.01)
"""Inner temperatures of "noise" pushes, degC: below the shown precision (0.1)."""


def serial(index: int) -> str:
    """Serial of the ``index``-th charger of a fleet."""
    return str(FIRST_SERIAL + index).zfill(16)


# --- the chargers' process ----------------------------------------------------------


class Pusher:
    """Status pushes of every charger on a fixed, staggered schedule."""

    def __init__(self, chargers: Sequence[SimulatedCharger]) -> None:
        """Push nothing until :meth:`start`."""
        self._chargers = chargers
        self._handles: list[asyncio.TimerHandle] = []
        self._noisy = [False] * len(chargers)
        self.sent = 0
        self._interval = 1.0
        self._mode: Mode = "same"

    def start(self, interval: float, mode: Mode) -> None:
        """Push every ``interval`` s per charger; the chargers spread over it."""
        self.stop()
        self.sent = 0
        self._interval, self._mode = interval, mode
        loop = asyncio.get_running_loop()
        now = loop.time()
        count = len(self._chargers)
        for index in range(count):
            due = now + interval * (index + 1) / count
            self._handles.append(loop.call_at(due, self._push, index, due))

    def stop(self) -> int:
        """Stop pushing; the number of pushes sent since :meth:`start`."""
        for handle in self._handles:
            handle.cancel()
        self._handles.clear()
        return self.sent

    def _push(self, index: int, due: float) -> None:
        charger = self._chargers[index]
        # Due times from the schedule, not from now: a late push does not
        # shift the ones after it, so the rate stays what was asked for.
        nxt = due + self._interval
        self._handles[index] = asyncio.get_running_loop().call_at(
            nxt, self._push, index, nxt
        )
        if charger.client is None:
            return  # nobody to push to: not a push
        self.sent += 1
        match self._mode:
            case "change":
                charger.set_measurements(
                    total_energy=charger.total_energy + ENERGY_STEP
                )
            case "noise":
                noisy = self._noisy[index] = not self._noisy[index]
                charger.set_measurements(temperature_inner=NOISE[noisy])
            case "same":
                charger.push_status()


async def _stdin_lines() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    return reader


def _answer(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def serve(options: argparse.Namespace) -> None:
    """Run the chargers and answer commands until ``quit`` or end of input."""
    timings = SimulatorTimings(
        announce_interval=options.announce_interval,
        heading_interval=options.heading_interval,
        status_interval=NO_PUSHES,
        charging_status_interval=options.charging_status_interval,
    )
    chargers = [
        SimulatedCharger(
            serial(index),
            PASSWORD,
            options.model,
            bind_host=HOST,
            client_host=HOST,
            client_port=options.client_port,
            timings=timings,
        )
        for index in range(options.count)
    ]
    for charger in chargers:
        await charger.start()
        host, port = charger.address
        _answer(f"charger {charger.serial} {host} {port}")
    _answer("ready")
    pusher = Pusher(chargers)
    reader = await _stdin_lines()
    try:
        while line := (await reader.readline()).decode():
            words = line.split()
            match words:
                case ["push", interval, mode] if mode in MODES:
                    pusher.start(float(interval), mode)
                    _answer("ok")
                case ["count"]:
                    _answer(f"count {pusher.sent}")
                case ["stop"]:
                    _answer(f"sent {pusher.stop()}")
                case ["reboot"]:
                    for charger in chargers:
                        charger.resume()
                    _answer("ok")
                case ["quit"]:
                    break
                case _:
                    _answer(f"error unknown command {line.strip()!r}")
    finally:
        pusher.stop()
        for charger in chargers:
            await charger.stop()


def build_parser() -> argparse.ArgumentParser:
    """Command line of the chargers' process."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--client-port", type=int, required=True)
    parser.add_argument("--model", default="bs20")
    parser.add_argument("--announce-interval", type=float, default=3.0)
    parser.add_argument("--heading-interval", type=float, default=10.0)
    parser.add_argument("--charging-status-interval", type=float, default=10.0)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the chargers' process."""
    options = build_parser().parse_args(argv)
    asyncio.run(serve(options))


# --- the benchmark's side -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FleetCharger:
    """One charger of the fleet as the benchmark sees it."""

    serial: str
    host: str
    port: int


class Fleet:
    """The chargers' process, seen from a benchmark."""

    def __init__(
        self, process: asyncio.subprocess.Process, chargers: list[FleetCharger]
    ) -> None:
        """Use :meth:`start`."""
        self._process = process
        self.chargers = chargers
        self._lock = asyncio.Lock()

    @classmethod
    async def start(cls, count: int, client_port: int) -> Self:
        """Start ``count`` chargers that talk to 127.0.0.1:``client_port``."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SCRIPT),
            f"--count={count}",
            f"--client-port={client_port}",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        assert process.stdout is not None
        chargers: list[FleetCharger] = []
        async with asyncio.timeout(60):
            while True:
                line = (await process.stdout.readline()).decode()
                if not line:
                    raise RuntimeError("the chargers' process ended before ready")
                words = line.split()
                if words == ["ready"]:
                    break
                if words and words[0] == "charger":
                    chargers.append(FleetCharger(words[1], words[2], int(words[3])))
        return cls(process, chargers)

    async def command(self, line: str) -> str:
        """Send one command; its one-line answer."""
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None
        assert stdout is not None
        async with self._lock:
            stdin.write(line.encode() + b"\n")
            await stdin.drain()
            async with asyncio.timeout(30):
                answer = (await stdout.readline()).decode().strip()
        if not answer or answer.startswith("error"):
            raise RuntimeError(f"{line!r}: {answer or 'no answer'}")
        return answer

    async def push(self, interval: float, mode: Mode) -> None:
        """Start pushing (see the module docstring)."""
        await self.command(f"push {interval} {mode}")

    async def sent(self) -> int:
        """Pushes sent since :meth:`push`."""
        return int((await self.command("count")).split()[1])

    async def stop_pushing(self) -> int:
        """Stop pushing; pushes sent since :meth:`push`."""
        return int((await self.command("stop")).split()[1])

    async def reboot(self) -> None:
        """Every charger drops its client and announces itself at once."""
        await self.command("reboot")

    async def close(self) -> None:
        """Stop the chargers and wait for the process."""
        stdin = self._process.stdin
        if stdin is not None and self._process.returncode is None:
            stdin.write(b"quit\n")
            await stdin.drain()
            stdin.close()
        try:
            async with asyncio.timeout(10):
                await self._process.wait()
        except TimeoutError:
            self._process.terminate()
            await self._process.wait()


# --- kernel counters ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UdpSocketStats:
    """A UDP socket's row of ``/proc/net/udp``."""

    rx_queue: int
    """Bytes waiting in the receive queue."""
    drops: int
    """Datagrams the kernel dropped (receive buffer full, and the like)."""


def udp_socket_stats(port: int, host: str = HOST) -> UdpSocketStats | None:
    """The kernel's counters of the UDP socket bound to ``host:port``."""
    octets = host.split(".")
    local = "".join(f"{int(octet):02X}" for octet in reversed(octets))
    wanted = f"{local}:{port:04X}"
    with open("/proc/net/udp", encoding="ascii") as table:
        next(table)  # header
        for row in table:
            columns = row.split()
            if columns[1] == wanted:
                rx_queue = int(columns[4].split(":")[1], 16)
                return UdpSocketStats(rx_queue=rx_queue, drops=int(columns[-1]))
    return None


if __name__ == "__main__":
    main()
