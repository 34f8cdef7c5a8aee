"""Benchmark the integration inside a real Home Assistant core, in-process.

Measures, against the simulator over loopback UDP:
1. status datagram sent by the charger -> entity state written (median, p99);
2. ``switch.turn_on`` -> charging confirmed in the switch state;
3. entry setup -> first real data, with the charger address known.

Run: ``.venv/bin/python scripts/benchmark_integration.py``. Numbers only; no
assertions (speed is never a test).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
import socket
import statistics
import sys
import time
from unittest.mock import PropertyMock, patch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from homeassistant import loader
from homeassistant.const import CONF_HOST, CONF_PASSWORD
from homeassistant.core import Event, HomeAssistant, State, callback
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.evse_master import const
from custom_components.evse_master.const import (
    CONF_PORT,
    CONF_SERIAL,
    DOMAIN,
)
from custom_components.evse_master.protocol import const as protocol_const
from custom_components.evse_master.protocol.charger import ChargerTimings
from tests.simulator import (
    SimulatedCharger,
    SimulatorTimings,
)

SERIAL = "9181102751219513"
PASSWORD = "123456"
# Slow periodic pushes so only the benchmark's own changes are measured.
QUIET = SimulatorTimings(status_interval=60, charging_status_interval=60)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _wait_state(
    hass: HomeAssistant, entity_id: str, predicate: Callable[[State], bool]
) -> float:
    """Wait until the state matches; return perf_counter() at the write."""
    done: asyncio.Future[float] = hass.loop.create_future()

    @callback
    def on_event(event: Event) -> None:
        new = event.data.get("new_state")
        if (
            event.data.get("entity_id") == entity_id
            and new is not None
            and predicate(new)
            and not done.done()
        ):
            done.set_result(time.perf_counter())

    unsubscribe = hass.bus.async_listen("state_changed", on_event)
    current = hass.states.get(entity_id)
    if current is not None and predicate(current):
        unsubscribe()
        return time.perf_counter()
    try:
        async with asyncio.timeout(10):
            return await done
    finally:
        unsubscribe()


def _state_is(value: str) -> Callable[[State], bool]:
    return lambda state: state.state == value


def _entry(sim: SimulatedCharger) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        unique_id=sim.serial,
        title="BESEN BS20",
        data={
            CONF_SERIAL: sim.serial,
            CONF_PASSWORD: PASSWORD,
            CONF_HOST: sim.address[0],
            CONF_PORT: sim.address[1],
        },
    )


def _summary(name: str, samples_ms: list[float], goal: str) -> str:
    ordered = sorted(samples_ms)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (
        f"{name:<48} n={len(ordered):<5} median={statistics.median(ordered):7.2f} ms"
        f"  p99={p99:7.2f} ms  max={ordered[-1]:7.2f} ms  goal {goal}"
    )


async def _run(rounds: int) -> list[str]:
    # The temperature sensor timed below is disabled by default.
    enable_all = patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    )
    with enable_all:
        return await _measure(rounds)


async def _measure(rounds: int) -> list[str]:
    lines: list[str] = []
    async with async_test_home_assistant() as hass:
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
        sim = SimulatedCharger(SERIAL, PASSWORD, "bs20", timings=QUIET)
        await sim.start()
        sim.plug_in()

        # 3. setup -> first data (repeated with fresh entries)
        setups: list[float] = []
        for _ in range(10):
            entry = _entry(sim)
            entry.add_to_hass(hass)
            start = time.perf_counter()
            await hass.config_entries.async_setup(entry.entry_id)
            end = await _wait_state(
                hass, "sensor.besen_bs20_charger_state", lambda s: s.state == "ready"
            )
            setups.append((end - start) * 1000)
            await hass.config_entries.async_remove(entry.entry_id)
            await hass.async_block_till_done()

        entry = _entry(sim)
        entry.add_to_hass(hass)
        await hass.config_entries.async_setup(entry.entry_id)
        await _wait_state(
            hass, "sensor.besen_bs20_charger_state", lambda s: s.state == "ready"
        )

        # 1. datagram -> state written
        latencies: list[float] = []
        for index in range(rounds):
            temperature = 20.0 + (index % 100) / 10
            sim.set_measurements(temperature_inner=temperature)
            start = time.perf_counter()
            sim.push_status()
            end = await _wait_state(
                hass,
                "sensor.besen_bs20_internal_temperature",
                _state_is(str(temperature)),
            )
            latencies.append((end - start) * 1000)

        # 2. switch.turn_on -> confirmed on
        switching: list[float] = []
        for _ in range(20):
            start = time.perf_counter()
            await hass.services.async_call(
                "switch", "turn_on", {"entity_id": "switch.besen_bs20_charge"}
            )
            end = await _wait_state(
                hass, "switch.besen_bs20_charge", lambda s: s.state == "on"
            )
            switching.append((end - start) * 1000)
            await hass.services.async_call(
                "switch",
                "turn_off",
                {"entity_id": "switch.besen_bs20_charge"},
                blocking=True,
            )
            await _wait_state(
                hass, "switch.besen_bs20_charge", lambda s: s.state == "off"
            )

        await hass.config_entries.async_unload(entry.entry_id)
        await sim.stop()
        await hass.async_stop(force=True)
        lines.append(_summary("datagram -> entity state written", latencies, "<5/20"))
        lines.append(
            _summary("switch.turn_on -> charging confirmed", switching, "<100")
        )
        lines.append(
            _summary("entry setup -> first data (address known)", setups, "<1000")
        )
    return lines


def main() -> None:
    """Run the benchmark and print a table."""
    with (
        patch.object(protocol_const, "LISTEN_HOST", "127.0.0.1"),
        patch.object(protocol_const, "LISTEN_PORT", _free_port()),
        # The benchmark switches on and off back to back on purpose.
        patch.object(const, "CHARGER_TIMINGS", ChargerTimings(min_restart_interval=0)),
    ):
        for line in asyncio.run(_run(rounds=500)):
            print(line)


if __name__ == "__main__":
    main()
