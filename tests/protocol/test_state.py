"""The charger snapshot: renewing it field by field."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from hypothesis import given, strategies as st
import pytest

from custom_components.evse_master.protocol.enums import (
    Language,
    StartMode,
    TemperatureUnit,
)
from custom_components.evse_master.protocol.state import (
    ChargerSettings,
    ChargerState,
    Connection,
    renewed,
)

from .test_messages import charging_statuses, device_infos, statuses, text, u8

settings_records = st.builds(
    ChargerSettings,
    max_current=st.none() | st.integers(6, 63),
    nickname=st.none() | text(11),
    language=st.none() | u8.map(Language),
    temperature_unit=st.none() | u8.map(TemperatureUnit),
    start_mode=st.none() | u8.map(StartMode),
    lcd_brightness=st.none() | st.integers(0, 100),
)


@st.composite
def snapshots(draw: st.DrawFn) -> ChargerState:
    """Snapshots with every part an entity may read drawn at random."""
    return ChargerState(
        serial="9181102751219513",
        logged_in=draw(st.booleans()),
        online=draw(st.booleans()),
        connection=draw(st.sampled_from(Connection)),
        address=draw(st.none() | st.just(("127.0.0.1", 28376))),
        link_epoch=draw(st.integers(0, 3)),
        info=draw(st.none() | device_infos(70)),
        status=draw(st.none() | statuses(three_phase=draw(st.booleans()))),
        session=draw(st.none() | charging_statuses()),
        settings=draw(settings_records),
    )


@given(
    state=snapshots(),
    other=snapshots(),
    names=st.sets(st.sampled_from([field.name for field in fields(ChargerState)])),
)
def test_renewed_is_replace(
    state: ChargerState, other: ChargerState, names: set[str]
) -> None:
    """The fast path builds what ``dataclasses.replace`` builds."""
    changes: dict[str, Any] = {name: getattr(other, name) for name in names}
    assert renewed(state, changes) == replace(state, **changes)
    assert renewed(state, {}) == state


def test_renewed_refuses_unknown_fields() -> None:
    """A misspelt field is an error, as with ``replace``."""
    with pytest.raises(KeyError):
        renewed(ChargerState(serial="9181102751219513"), {"satus": None})
