"""Command line: ``python -m tests.simulator`` runs simulated chargers.

Used by ``scripts/develop``, the browser test and the benchmarks; see
``--help``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Iterable, Sequence
import contextlib
from dataclasses import replace
import logging
import signal
import sys
from typing import Final

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
from .quirks import NO_QUIRKS, Quirks

type QuirkChange = Callable[[Quirks], Quirks]
"""What one ``--quirk`` does to the charger's :class:`Quirks`."""

QUIRK_FLAGS: Final[dict[str, QuirkChange]] = {
    "password-zeros": lambda quirks: replace(quirks, header_password="zeros"),
    "password-own": lambda quirks: replace(quirks, header_password="own"),
    "get-echo": lambda quirks: replace(quirks, setting_echo="get"),
    "unlisted-three-phase": lambda quirks: replace(quirks, unlisted_three_phase=True),
    "no-pushes": lambda quirks: replace(quirks, pushes=False),
    "completed-needs-stop": lambda quirks: replace(quirks, completed_needs_stop=True),
    "long-payloads": lambda quirks: replace(quirks, long_payloads=True),
    "broadcast-headings": lambda quirks: replace(quirks, broadcast_headings=True),
}
"""``--quirk`` names without a value and the :class:`Quirks` field each sets."""
HEADINGS_STOP = "headings-stop"
"""``--quirk headings-stop=SECONDS`` sets ``Quirks.headings_stop_after``."""

_QUIRK_HELP: Final[dict[str, str]] = {
    "password-zeros": "header password 00 x 6 instead of FF x 6",
    "password-own": "header password = the charger's own (FakeEvse)",
    "get-echo": "answer setting SETs with action 2 (FakeEvse)",
    "unlisted-three-phase": "three-phase unit announcing device type 9",
    "no-pushes": "never push 0x0004 / 0x0005 (polls are answered)",
    f"{HEADINGS_STOP}=SECONDS": "stop heading a client that long after its login",
    "completed-needs-stop": "after Completed, refuse immediate starts until a stop",
    "long-payloads": "40-byte status, 145-byte device info",
    "broadcast-headings": "headings also to the announcement address",
}
"""``--help`` lines of the quirks, by ``--quirk`` value."""


def _quirk_epilog() -> str:
    width = max(map(len, _QUIRK_HELP))
    lines = [f"  {name:<{width}}  {text}" for name, text in _QUIRK_HELP.items()]
    return "\n".join(["quirks (--quirk, repeatable; later ones win):", *lines])


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def parse_quirk(text: str) -> QuirkChange:
    """One ``--quirk`` value as a change of :class:`Quirks`."""
    name, has_value, value = text.partition("=")
    if name == HEADINGS_STOP and has_value:
        try:
            seconds = float(value)
        except ValueError:
            seconds = -1.0
        if not seconds >= 0:  # also rejects nan
            raise argparse.ArgumentTypeError(
                f"{HEADINGS_STOP} needs seconds >= 0: {text}"
            )
        return lambda quirks: replace(quirks, headings_stop_after=seconds)
    if not has_value and name in QUIRK_FLAGS:
        return QUIRK_FLAGS[name]
    known = ", ".join(_QUIRK_HELP)
    raise argparse.ArgumentTypeError(f"unknown quirk {text!r}; known: {known}")


def quirks_from(changes: Iterable[QuirkChange]) -> Quirks:
    """The :class:`Quirks` the parsed ``--quirk`` options add up to."""
    quirks = NO_QUIRKS
    for change in changes:
        quirks = change(quirks)
    return quirks


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m ...protocol.simulator``."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.simulator",
        # Raw, so that the quirk table keeps its lines.
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Simulate EVSE Master chargers on UDP. Each charger announces itself\n"
            "to the client address until a client logs in, then behaves like a\n"
            "real unit. Runs until SIGINT or SIGTERM."
        ),
        epilog=_quirk_epilog(),
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
    parser.add_argument(
        "--quirk",
        type=parse_quirk,
        action="append",
        default=[],
        metavar="QUIRK",
        help="behave like other implementations or real units (see below)",
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
    quirks = quirks_from(options.quirk)
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
            quirks=quirks,
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
