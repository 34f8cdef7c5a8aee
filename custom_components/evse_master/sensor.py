"""Sensors of an EVSE Master charger."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    EntityCategory,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfPower,
    UnitOfTemperature,
    UnitOfTime,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import CONF_PHASES
from .coordinator import EvseMasterConfigEntry, EvseMasterCoordinator
from .entity import EvseMasterEntity
from .protocol.charger import ChargerState
from .protocol.enums import CurrentState, Fault, GunState, OutputState
from .protocol.messages import PhaseReading

PARALLEL_UPDATES = 0

CHARGER_STATES = [
    "not_connected",
    "ready",
    "waiting_for_car",
    "charging",
    "completed",
    "scheduled",
    "waiting_for_card",
    "waiting_for_button",
    "fault",
    "unknown",
]
_STATE_KEYS = {
    CurrentState.NOT_CONNECTED: "not_connected",
    CurrentState.READY_TO_CHARGE: "ready",
    CurrentState.COMPLETED: "completed",
    CurrentState.COMPLETED_FULL_CHARGE: "completed",
    CurrentState.CHARGING_RESERVATION: "scheduled",
    CurrentState.WAITING_FOR_SWIPE: "waiting_for_card",
    CurrentState.WAITING_FOR_BUTTON: "waiting_for_button",
    CurrentState.EVSE_FAULT: "fault",
    CurrentState.CHARGING_FAULT_2: "fault",
    CurrentState.CHARGING_FAULT_3: "fault",
}

NO_FAULT = "none"
UNNAMED_FAULT = "other"
FAULT_OPTIONS = [NO_FAULT, *(fault.name.lower() for fault in Fault), UNNAMED_FAULT]


def charger_state_key(state: ChargerState) -> str | None:
    """The charger's state as one translated option (current + plug state)."""
    status = state.status
    if status is None:
        return None
    if status.errors:
        return "fault"
    current = status.current_state
    if current == CurrentState.CHARGING:
        flowing = (
            status.output_state == OutputState.CHARGING
            or status.gun_state == GunState.CONNECTED_LOCKED
        )
        return "charging" if flowing else "waiting_for_car"
    return _STATE_KEYS.get(current, "unknown")


def fault_keys(state: ChargerState) -> list[str]:
    """Every active fault as an option key, most significant first."""
    return [
        fault.name.lower() if isinstance(fault, Fault) else UNNAMED_FAULT
        for fault in state.faults
    ]


def _first_fault(state: ChargerState) -> str | None:
    if state.status is None:
        return None
    faults = fault_keys(state)
    return faults[0] if faults else NO_FAULT


def _fault_attributes(state: ChargerState) -> dict[str, Any]:
    if state.status is None:
        return {}
    return {
        "active_faults": fault_keys(state),
        "error_code": f"0x{state.status.errors:08X}",
    }


def _lifetime_energy(state: ChargerState) -> float | None:
    energy = state.status.total_energy if state.status else None
    # A used charger's counter is never exactly 0: a 0 is a missing reading,
    # and publishing it would make the Energy dashboard double-count later.
    return energy or None


def _phase(state: ChargerState, index: int) -> PhaseReading | None:
    if state.status is None:
        return None
    phases = state.status.phases
    return phases[index] if index < len(phases) else None


def _voltage(index: int) -> Callable[[ChargerState], float | None]:
    def value(state: ChargerState) -> float | None:
        phase = _phase(state, index)
        return phase.voltage if phase else None

    return value


def _current(index: int) -> Callable[[ChargerState], float | None]:
    def value(state: ChargerState) -> float | None:
        phase = _phase(state, index)
        return phase.current if phase else None

    return value


@dataclass(frozen=True, kw_only=True)
class EvseMasterSensorDescription(SensorEntityDescription):
    """A sensor and how to read it from the charger state."""

    value_fn: Callable[[ChargerState], Any]
    attributes_fn: Callable[[ChargerState], dict[str, Any]] | None = None
    three_phase_only: bool = False


def _phase_sensors() -> tuple[EvseMasterSensorDescription, ...]:
    sensors: list[EvseMasterSensorDescription] = []
    for index, phase in enumerate(("l1", "l2", "l3")):
        sensors.append(
            EvseMasterSensorDescription(
                key=f"voltage_{phase}",
                translation_key=f"voltage_{phase}",
                device_class=SensorDeviceClass.VOLTAGE,
                native_unit_of_measurement=UnitOfElectricPotential.VOLT,
                state_class=SensorStateClass.MEASUREMENT,
                suggested_display_precision=0,
                entity_category=EntityCategory.DIAGNOSTIC,
                entity_registry_enabled_default=False,
                value_fn=_voltage(index),
                three_phase_only=index > 0,
            )
        )
        sensors.append(
            EvseMasterSensorDescription(
                key=f"current_{phase}",
                translation_key=f"current_{phase}",
                device_class=SensorDeviceClass.CURRENT,
                native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
                state_class=SensorStateClass.MEASUREMENT,
                suggested_display_precision=1,
                entity_category=EntityCategory.DIAGNOSTIC,
                value_fn=_current(index),
                three_phase_only=index > 0,
            )
        )
    return tuple(sensors)


SENSORS: tuple[EvseMasterSensorDescription, ...] = (
    EvseMasterSensorDescription(
        key="charger_state",
        translation_key="charger_state",
        device_class=SensorDeviceClass.ENUM,
        options=CHARGER_STATES,
        value_fn=charger_state_key,
    ),
    EvseMasterSensorDescription(
        key="power",
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=lambda state: state.power,
    ),
    EvseMasterSensorDescription(
        key="lifetime_energy",
        translation_key="lifetime_energy",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=2,
        value_fn=_lifetime_energy,
    ),
    EvseMasterSensorDescription(
        key="session_energy",
        translation_key="session_energy",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=2,
        value_fn=lambda state: state.session.session_energy if state.session else None,
    ),
    EvseMasterSensorDescription(
        key="session_duration",
        translation_key="session_duration",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        suggested_unit_of_measurement=UnitOfTime.MINUTES,
        suggested_display_precision=0,
        value_fn=lambda state: state.session.duration if state.session else None,
    ),
    EvseMasterSensorDescription(
        key="session_start",
        translation_key="session_start",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda state: state.session.start_time if state.session else None,
    ),
    EvseMasterSensorDescription(
        key="session_current_limit",
        translation_key="session_current_limit",
        device_class=SensorDeviceClass.CURRENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda state: state.session.max_current if state.session else None,
    ),
    *_phase_sensors(),
    EvseMasterSensorDescription(
        key="inner_temperature",
        translation_key="inner_temperature",
        device_class=SensorDeviceClass.TEMPERATURE,
        native_unit_of_measurement=UnitOfTemperature.CELSIUS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=lambda state: state.status.inner_temperature if state.status else None,
    ),
    EvseMasterSensorDescription(
        key="outer_temperature",
        translation_key="outer_temperature",
        device_class=SensorDeviceClass.TEMPERATURE,
        native_unit_of_measurement=UnitOfTemperature.CELSIUS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda state: state.status.outer_temperature if state.status else None,
    ),
    EvseMasterSensorDescription(
        key="fault",
        translation_key="fault",
        device_class=SensorDeviceClass.ENUM,
        options=FAULT_OPTIONS,
        value_fn=_first_fault,
        attributes_fn=_fault_attributes,
    ),
)


def is_three_phase(coordinator: EvseMasterCoordinator) -> bool:
    """Whether the charger drives three phases.

    Platforms are set up before the first login, so this comes from the entry,
    which the coordinator keeps in step with the charger's login info.
    """
    return coordinator.config_entry.data.get(CONF_PHASES) == 3


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EvseMasterConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the charger's sensors."""
    coordinator = entry.runtime_data.coordinator
    three_phase = is_three_phase(coordinator)
    async_add_entities(
        EvseMasterSensor(coordinator, description)
        for description in SENSORS
        if three_phase or not description.three_phase_only
    )


class EvseMasterSensor(EvseMasterEntity, SensorEntity):
    """A charger reading."""

    entity_description: EvseMasterSensorDescription

    @property
    def native_value(self) -> Any:
        """The reading from the latest charger state."""
        value = self.entity_description.value_fn(self.coordinator.data)
        if self.entity_description.device_class == SensorDeviceClass.TIMESTAMP:
            return (
                None
                if value is None
                else self.coordinator.charger.em_to_datetime(value)
            )
        return value

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Raw details where the state alone hides them (faults)."""
        if self.entity_description.attributes_fn is None:
            return None
        return self.entity_description.attributes_fn(self.coordinator.data)
