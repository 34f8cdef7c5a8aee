"""Physical bounds: implausible values never reach the charger snapshot."""

from __future__ import annotations

import asyncio
from dataclasses import replace
import math

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.evse_master.protocol import plausibility
from custom_components.evse_master.protocol.charger import ChargerState
from custom_components.evse_master.protocol.enums import (
    Action,
    Command,
)
from custom_components.evse_master.protocol.messages import (
    ChargeRecord,
    ChargingStatus,
    LcdBrightness,
    Nickname,
    OutputCurrent,
    PhaseReading,
    Status,
)
from custom_components.evse_master.protocol.plausibility import (
    ENERGY_COUNTER,
    TEMPERATURE,
    VOLTAGE,
    Limits,
    StatusScreen,
    implausible_record,
    screen_session,
)
from tests.protocol.inprocess import (
    CHARGER,
    RECORD,
    Session,
    frame,
    logged_in,
    status,
)

LIMITS = Limits(max_current=32, max_power=7040)


def test_voltage_from_swapped_bytes_keeps_the_last_value() -> None:
    """6,452 V (bytes the checksum cannot tell apart) is rejected: last value stays."""
    screen = StatusScreen(LIMITS)
    previous = status()
    swapped = Status.parse(
        bytes.fromhex("01fc08") + status().build()[3:]
    )  # 235.0 V (09 2e) -> 6452.0 V (fc 08)
    assert swapped.l1.voltage == pytest.approx(6452.0)
    screened, rejected = screen.screen(swapped, previous)
    assert rejected == ("l1.voltage",)
    assert screened.l1 == PhaseReading(235.0, 0.0)
    assert screened.total_energy == previous.total_energy


def test_without_a_previous_value_it_is_unknown() -> None:
    screen = StatusScreen(LIMITS)
    hot = Status.parse(
        status().build()[:13] + (65000).to_bytes(2, "big") + status().build()[15:]
    )
    screened, rejected = screen.screen(hot, None)
    assert rejected == ("inner_temperature",)
    assert screened.inner_temperature is None


def test_plausible_status_is_the_same_object() -> None:
    """Nothing to replace: no copy (the common case costs nothing)."""
    screen = StatusScreen(LIMITS)
    value = status()
    assert screen.screen(value, None) == (value, ())
    assert screen.screen(value, None)[0] is value


def test_limits_follow_the_announcement() -> None:
    small = Limits(max_current=16, max_power=3680)
    assert small.current == (0.0, 20.0)
    assert small.power == (0.0, 4600.0)
    assert small.setting_current == (6.0, 16.0)
    assert Limits(max_current=100, max_power=10**9).current == (0.0, 80.0)
    assert Limits(max_power=0).power[1] == 1000.0


def test_session_values() -> None:
    session = ChargingStatus.parse(bytes(74))
    wild = ChargingStatus.parse(bytes(51) + (10**9).to_bytes(4, "big") + bytes(19))
    assert wild.duration == 10**9
    screened, rejected = screen_session(wild, session, LIMITS)
    assert rejected == ("duration",)
    assert screened.duration == 0
    unprintable = ChargingStatus.parse(bytes([1, 14]) + b"\x07" * 16 + bytes(56))
    screened, rejected = screen_session(unprintable, None, LIMITS)
    assert rejected == ("charge_id",)
    assert screened.charge_id == ""


def test_record_values() -> None:
    assert implausible_record(RECORD) == ()
    damaged = ChargeRecord.parse(
        RECORD.build()[:-4] + (10**8).to_bytes(4, "big")
    )  # session energy 1,000,000 kWh
    assert implausible_record(damaged) == ("session_energy",)
    assert implausible_record(
        replace(RECORD, charge_id="20261202\x07", charged_time=10**9)
    ) == ("charged_time", "charge_id")


async def test_damaged_record_is_neither_taken_nor_acknowledged() -> None:
    """The intact replay that follows is the one reported."""
    created = await logged_in(ack_records=True)
    damaged = replace(RECORD, session_energy=50_000.0)
    created.receive(frame(Command.LOCAL_CHARGE_RECORD, damaged.build()), CHARGER)
    charger = created.charger
    assert charger.state.last_record is None
    assert charger.diagnostics.rejected_values == {"record.session_energy": 1}
    assert charger.diagnostics.last_rejected["record.session_energy"] == 50_000.0
    created.receive(frame(Command.LOCAL_CHARGE_RECORD, RECORD.build()), CHARGER)
    assert charger.state.last_record == RECORD
    charger.record_reported(RECORD)
    # One acknowledgement: the intact copy's, once reported.
    assert created.sent_to(CHARGER) == [Command.LOCAL_CHARGE_RECORD_ACK]
    await charger.close()


@pytest.fixture
async def session() -> Session:
    """A logged-in charger client (closed by the test)."""
    return await logged_in()


async def test_settings_outside_bounds_are_kept_out(session: Session) -> None:
    """Max current outside 6 A..the charger's maximum, brightness > 100, junk names."""
    session.receive(
        frame(Command.OUTPUT_CURRENT_RESPONSE, OutputCurrent(Action.GET, 16).build())
    )
    session.receive(
        frame(Command.OUTPUT_CURRENT_RESPONSE, OutputCurrent(Action.GET, 40).build())
    )
    session.receive(
        frame(Command.OUTPUT_CURRENT_RESPONSE, OutputCurrent(Action.GET, 5).build())
    )
    session.receive(
        frame(Command.LCD_BRIGHTNESS_RESPONSE, LcdBrightness(1, 200).build())
    )
    session.receive(
        frame(Command.NICKNAME_RESPONSE, Nickname(Action.GET, "Ga\x07rage").build())
    )
    settings = session.charger.state.settings
    assert settings.max_current == 16
    assert settings.lcd_brightness is None
    assert settings.nickname is None
    diagnostics = session.charger.diagnostics
    assert diagnostics.rejected_values == {
        "max_current_setting": 2,
        "lcd_brightness": 1,
        "nickname": 1,
    }
    assert diagnostics.last_rejected["max_current_setting"] == 5
    await session.charger.close()


# --- fuzz: whatever the payload, the snapshot stays physical ----------------------


def assert_physical(state: ChargerState) -> None:
    """Every reading in the snapshot is within the documented bounds."""
    limits = state.limits
    current = state.status
    if current is not None:
        for reading in (current.l1, current.l2, current.l3):
            if reading is not None:
                assert plausibility.within(reading.voltage, VOLTAGE)
                assert plausibility.within(reading.current, limits.current)
        assert plausibility.within(current.power, limits.power)
        assert plausibility.within(current.total_energy, ENERGY_COUNTER)
        assert plausibility.within(current.inner_temperature, TEMPERATURE)
        assert plausibility.within(current.outer_temperature, TEMPERATURE)
    if state.power is not None:
        assert math.isfinite(state.power)
        assert state.power <= 3 * VOLTAGE[1] * limits.current[1]
    settings = state.settings
    assert plausibility.within(settings.max_current, limits.setting_current)
    assert plausibility.within(settings.lcd_brightness, plausibility.BRIGHTNESS)
    assert settings.nickname is None or plausibility.plausible_nickname(
        settings.nickname
    )
    if state.session is not None:
        assert plausibility.within(
            state.session.session_energy, plausibility.SESSION_ENERGY
        )
        assert plausibility.printable(state.session.charge_id)
    if state.last_record is not None:
        assert implausible_record(state.last_record) == ()


_FUZZED = st.sampled_from(
    [
        Command.STATUS,
        Command.STATUS_RESPONSE,
        Command.CHARGING_STATUS,
        Command.LOCAL_CHARGE_RECORD,
        Command.OUTPUT_CURRENT_RESPONSE,
        Command.LCD_BRIGHTNESS_RESPONSE,
        Command.NICKNAME_RESPONSE,
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_FUZZED, st.binary(min_size=1, max_size=100)), max_size=20))
def test_fuzzed_payloads_stay_physical(frames: list[tuple[int, bytes]]) -> None:
    async def scenario() -> None:
        created = await logged_in()
        for command, payload in frames:
            created.receive(frame(command, payload), CHARGER)
            assert_physical(created.charger.state)
        await created.charger.close()

    asyncio.run(scenario())
