"""Command line: ``python -m tests.simulator`` runs simulated chargers.

Used by ``scripts/develop``, the browser test and the benchmarks; see
``--help``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
import contextlib
import logging
import signal
import sys

from custom_components.evse_master.protocol import const
from custom_components.evse_master.protocol.frame import normalize_serial

from .charger import (
    DEFAULT_PASSWORD,
    DEFAULT_SERIAL,
    DEFAULT_TIMINGS,
    MODELS,
    SimulatedCharger,
    SimulatorTimings,
)


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m ...protocol.simulator``."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.simulator",
        description=(
            "Simulate EVSE Master chargers on UDP. Each charger announces itself "
            "to the client address until a client logs in, then behaves like a "
            "real unit. Runs until SIGINT or SIGTERM."
        ),
    )
    parser.add_argument(
        "--serial",
        default=DEFAULT_SERIAL,
        help="16 hex digits; with --count, the first of consecutive serials "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--password",
        default=DEFAULT_PASSWORD,
        help="6 characters (default %(default)s)",
    )
    parser.add_argument(
        "--model", choices=sorted(MODELS), default="bs20", help="default %(default)s"
    )
    parser.add_argument(
        "--phases",
        type=int,
        choices=(1, 2, 3),
        help="wired phases (default: the model's)",
    )
    parser.add_argument(
        "--bind",
        default="127.0.0.1",
        metavar="HOST",
        help="address to listen and send from (default %(default)s)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=0,
        help="the charger's own UDP port; 0 = random, printed at start "
        "(with --count: consecutive ports)",
    )
    parser.add_argument(
        "--client-host",
        default="127.0.0.1",
        metavar="HOST",
        help="where announcements go (default %(default)s)",
    )
    parser.add_argument(
        "--client-port",
        type=int,
        default=const.LISTEN_PORT,
        help="client port all datagrams go to (default %(default)s)",
    )
    parser.add_argument(
        "--plugged", action="store_true", help="start with a car plugged in"
    )
    parser.add_argument(
        "--count",
        type=int,
        default=1,
        help="run this many chargers with consecutive serials (default 1)",
    )
    timing = parser.add_argument_group("timing (seconds)")
    for option, attribute in (
        ("--announce-interval", "announce_interval"),
        ("--heading-interval", "heading_interval"),
        ("--status-interval", "status_interval"),
        ("--charging-status-interval", "charging_status_interval"),
    ):
        timing.add_argument(
            option,
            type=_positive_float,
            default=getattr(DEFAULT_TIMINGS, attribute),
            help="default %(default)s",
        )
    timing.add_argument(
        "--duration",
        type=_positive_float,
        help="stop after this long (default: run until a signal)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log every datagram (debug)"
    )
    return parser


def _nth_serial(serial: str, index: int) -> str:
    """``serial`` plus ``index``, counting in decimal for all-digit serials."""
    base = normalize_serial(serial)
    if base.isdecimal():
        return str(int(base) + index).zfill(len(base))
    return f"{int(base, 16) + index:0{len(base)}x}"


def _chargers(options: argparse.Namespace) -> list[SimulatedCharger]:
    timings = SimulatorTimings(
        announce_interval=options.announce_interval,
        heading_interval=options.heading_interval,
        status_interval=options.status_interval,
        charging_status_interval=options.charging_status_interval,
    )
    return [
        SimulatedCharger(
            _nth_serial(options.serial, index),
            options.password,
            options.model,
            phases=options.phases,
            bind_host=options.bind,
            bind_port=options.port + index if options.port else 0,
            client_host=options.client_host,
            client_port=options.client_port,
            timings=timings,
        )
        for index in range(options.count)
    ]


async def run(
    chargers: Sequence[SimulatedCharger],
    *,
    plugged: bool = False,
    duration: float | None = None,
) -> None:
    """Run chargers until SIGINT/SIGTERM (or ``duration``), then stop them."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, done.set)
    try:
        for charger in chargers:
            await charger.start()
            if plugged:
                charger.plug_in()
            host, port = charger.address
            client_host, client_port = charger.announce_to
            print(
                f"{charger.serial} {charger.model.brand} {charger.model.model} "
                f"on {host}:{port}, client {client_host}:{client_port}",
                flush=True,
            )
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(duration):
                await done.wait()
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
        for charger in chargers:
            await charger.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = build_parser()
    options = parser.parse_args(argv)
    if options.count < 1:
        parser.error("--count must be at least 1")
    try:
        chargers = _chargers(options)
    except ValueError as err:
        parser.error(str(err))
    logging.basicConfig(
        level=logging.DEBUG if options.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(run(chargers, plugged=options.plugged, duration=options.duration))
    except OSError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
