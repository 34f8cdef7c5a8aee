"""Sensors of an EVSE Master charger."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import time
from typing import Any

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorExtraStoredData,
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
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity

from .changes import (
    ALL_FIELDS,
    CHARGING,
    CURRENT_STATE,
    FAULTS,
    PHASES,
    PLUGGED_IN,
    POWER,
    SESSION_ACTIVE,
    reads,
)
from .coordinator import EvseMasterConfigEntry, EvseMasterCoordinator
from .current import CurrentBehaviour, CurrentWatch
from .entity import EvseMasterEntity, EvseMasterEntityDescription
from .protocol.charger import ChargerState, Connection
from .protocol.energy import CounterGuard
from .protocol.enums import CurrentState, Fault, GunState, OutputState
from .protocol.messages import ChargingStatus

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


CONNECTIONS = [connection.value for connection in Connection]
CURRENT_BEHAVIOURS = [
    behaviour.value
    for behaviour in CurrentBehaviour
    if behaviour is not CurrentBehaviour.UNKNOWN
]


def charger_state_key(state: ChargerState) -> str | None:
    """The charger's state as one translated option; ``None`` when not documented."""
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
    return _STATE_KEYS.get(current)


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


def _fault_attributes(state: ChargerState) -> dict[str, Any] | None:
    if state.status is None:
        return None
    return {
        "active_faults": fault_keys(state),
        "error_code": f"0x{state.status.errors:08X}",
    }


def _voltage(index: int) -> Callable[[ChargerState], float | None]:
    def value(state: ChargerState) -> float | None:
        phase = state.phase(index)
        return phase.voltage if phase else None

    return value


def _current(index: int) -> Callable[[ChargerState], float | None]:
    def value(state: ChargerState) -> float | None:
        phase = state.phase(index)
        return phase.current if phase else None

    return value


def _session_minutes(state: ChargerState) -> int | None:
    return state.session.duration // 60 if state.session else None


def _scheduled_start(state: ChargerState) -> int | None:
    """The planned start while a session waits for it."""
    if not state.scheduled or state.session is None:
        return None
    return state.session.reservation_time or None


def _current_session(state: ChargerState) -> ChargingStatus | None:
    """The session that runs or waits to start (not the last finished one)."""
    if state.session is None or not (state.session_active or state.scheduled):
        return None
    return state.session


def _time_limit(state: ChargerState) -> int | None:
    """Minutes the running or planned session may last (``None``: no limit)."""
    session = _current_session(state)
    return session.max_duration or None if session else None


def _energy_limit(state: ChargerState) -> float | None:
    """KWh the running or planned session may take (``None``: no limit)."""
    session = _current_session(state)
    return session.max_energy or None if session else None


@dataclass(frozen=True, kw_only=True)
class EvseMasterSensorDescription(SensorEntityDescription, EvseMasterEntityDescription):
    """A sensor and how to read it from the charger state.

    Values are published rounded to ``suggested_display_precision``: a change
    nobody would see (0.01 °C) writes no state.
    """

    value_fn: Callable[[ChargerState], Any]
    attributes_fn: Callable[[ChargerState], dict[str, Any] | None] | None = None
    phase: int = 1
    """The phase a per-phase sensor belongs to (created once the charger has it)."""


@dataclass(frozen=True, kw_only=True)
class EvseMasterEnergyDescription(EvseMasterSensorDescription):
    """An energy counter published through a :class:`CounterGuard`."""

    lifetime: bool
    """Lifetime counter (absorbs restore-lowers) or session counter (restarts)."""


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
                reads=PHASES,
                value_fn=_voltage(index),
                phase=index + 1,
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
                entity_registry_enabled_default=False,
                reads=PHASES,
                value_fn=_current(index),
                phase=index + 1,
            )
        )
    return tuple(sensors)


SENSORS: tuple[EvseMasterSensorDescription, ...] = (
    EvseMasterSensorDescription(
        key="charger_state",
        translation_key="charger_state",
        device_class=SensorDeviceClass.ENUM,
        options=CHARGER_STATES,
        reads=FAULTS | CURRENT_STATE | CHARGING | PLUGGED_IN,
        value_fn=charger_state_key,
    ),
    EvseMasterSensorDescription(
        key="power",
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        reads=POWER,
        value_fn=lambda state: state.power,
    ),
    EvseMasterEnergyDescription(
        key="lifetime_energy",
        translation_key="lifetime_energy",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=2,
        # Every reading counts for the guard (confirmations of a jump).
        reads=reads("status", "link_epoch", "info"),
        value_fn=lambda state: state.status.total_energy if state.status else None,
        lifetime=True,
    ),
    EvseMasterEnergyDescription(
        key="session_energy",
        translation_key="session_energy",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        # No state class: no statistics, so the Energy dashboard offers only
        # the lifetime counter (both would count the same kWh twice).
        suggested_display_precision=2,
        reads=reads("session", "info"),
        value_fn=lambda state: state.session.session_energy if state.session else None,
        lifetime=False,
    ),
    EvseMasterSensorDescription(
        key="session_duration",
        translation_key="session_duration",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MINUTES,
        suggested_display_precision=0,
        reads=reads("session.duration"),
        value_fn=_session_minutes,
    ),
    EvseMasterSensorDescription(
        key="session_start",
        translation_key="session_start",
        device_class=SensorDeviceClass.TIMESTAMP,
        reads=reads("session.start_time"),
        value_fn=lambda state: state.session.start_time if state.session else None,
    ),
    EvseMasterSensorDescription(
        key="session_current_limit",
        translation_key="session_current_limit",
        device_class=SensorDeviceClass.CURRENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        reads=reads("session.max_current"),
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
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        reads=reads("status.inner_temperature"),
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
        entity_registry_enabled_default=False,
        reads=reads("status.outer_temperature"),
        value_fn=lambda state: state.status.outer_temperature if state.status else None,
    ),
    EvseMasterSensorDescription(
        key="scheduled_start",
        translation_key="scheduled_start",
        device_class=SensorDeviceClass.TIMESTAMP,
        reads=SESSION_ACTIVE | reads("session.reservation_time"),
        value_fn=_scheduled_start,
    ),
    EvseMasterSensorDescription(
        key="session_time_limit",
        translation_key="session_time_limit",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MINUTES,
        suggested_display_precision=0,
        reads=SESSION_ACTIVE | reads("session.max_duration"),
        value_fn=_time_limit,
    ),
    EvseMasterSensorDescription(
        key="session_energy_limit",
        translation_key="session_energy_limit",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        reads=SESSION_ACTIVE | reads("session.max_energy"),
        value_fn=_energy_limit,
    ),
    EvseMasterSensorDescription(
        key="fault",
        translation_key="fault",
        device_class=SensorDeviceClass.ENUM,
        options=FAULT_OPTIONS,
        reads=FAULTS,
        value_fn=_first_fault,
        attributes_fn=_fault_attributes,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EvseMasterConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the charger's sensors; a phase's sensors once the charger shows it."""
    coordinator = entry.runtime_data.coordinator
    added: set[str] = set()

    @callback
    def add_new_phases() -> None:
        phases = coordinator.data.phases
        new = [
            description
            for description in SENSORS
            if description.phase <= phases and description.key not in added
        ]
        if new:
            added.update(description.key for description in new)
            async_add_entities(_entity(coordinator, description) for description in new)

    add_new_phases()
    entry.async_on_unload(coordinator.async_add_listener(add_new_phases, PHASES))
    async_add_entities(
        [
            EvseMasterConnectionSensor(coordinator, CONNECTION),
            EvseMasterCurrentBehaviourSensor(
                coordinator, CURRENT_BEHAVIOUR, entry.runtime_data.current_watch
            ),
        ]
    )


CONNECTION = EvseMasterSensorDescription(
    key="connection",
    translation_key="connection",
    device_class=SensorDeviceClass.ENUM,
    options=CONNECTIONS,
    entity_category=EntityCategory.DIAGNOSTIC,
    reads=reads("connection"),
    value_fn=lambda state: state.connection.value,
)
CURRENT_BEHAVIOUR = EvseMasterSensorDescription(
    key="current_change",
    translation_key="current_change",
    device_class=SensorDeviceClass.ENUM,
    options=CURRENT_BEHAVIOURS,
    entity_category=EntityCategory.DIAGNOSTIC,
    reads=reads(),
    value_fn=lambda state: None,
)


def _entity(
    coordinator: EvseMasterCoordinator, description: EvseMasterSensorDescription
) -> EvseMasterSensor:
    if isinstance(description, EvseMasterEnergyDescription):
        return EvseMasterEnergySensor(coordinator, description)
    return EvseMasterSensor(coordinator, description)


class EvseMasterSensor(EvseMasterEntity, SensorEntity):
    """A charger reading."""

    entity_description: EvseMasterSensorDescription

    @property
    def native_value(self) -> Any:
        """The reading from the latest charger state, at its published precision."""
        description = self.entity_description
        value = description.value_fn(self.coordinator.data)
        if value is None:
            return None
        if description.device_class == SensorDeviceClass.TIMESTAMP:
            return self.coordinator.charger.em_to_datetime(value)
        precision = description.suggested_display_precision
        if precision is not None and isinstance(value, float):
            return round(value, precision) if precision else round(value)
        return value

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Raw details where the state alone hides them (faults)."""
        if self.entity_description.attributes_fn is None:
            return None
        return self.entity_description.attributes_fn(self.coordinator.data)


class EvseMasterEnergySensor(EvseMasterSensor, RestoreSensor):
    """An energy counter the Energy dashboard can trust (see :mod:`energy`).

    Its guard outlives Home Assistant restarts, so a restart with the charger
    offline (or a power cut while Home Assistant was down) is handled like any
    other absence.
    """

    entity_description: EvseMasterEnergyDescription

    def __init__(
        self,
        coordinator: EvseMasterCoordinator,
        description: EvseMasterEnergyDescription,
    ) -> None:
        """Start with a fresh guard; a stored one replaces it when restored."""
        super().__init__(coordinator, description)
        self._guard = CounterGuard(absorb_decreases=description.lifetime)
        self._reading: object = None

    async def async_added_to_hass(self) -> None:
        """Restore the guard, then take the current reading."""
        last = await self.async_get_last_extra_data()
        if last is not None:
            stored = last.as_dict().get("guard")
            if isinstance(stored, dict):
                self._guard = CounterGuard.from_dict(
                    stored, absorb_decreases=self.entity_description.lifetime
                )
        self._feed()
        await super().async_added_to_hass()

    @property
    def extra_restore_state_data(self) -> SensorExtraStoredData:
        """The guard goes with the state into the restore cache."""
        data = super().extra_restore_state_data
        return _GuardStoredData(
            data.native_value, data.native_unit_of_measurement, self._guard
        )

    @callback
    def _handle_coordinator_update(self) -> None:
        # It reads every status (the guard counts readings); what it shows is
        # the guard's value, which most readings leave as it is.
        published = self._guard.published
        self._feed()
        if self._guard.published != published or self.coordinator.changed is ALL_FIELDS:
            super()._handle_coordinator_update()

    def _feed(self) -> None:
        state = self.coordinator.data
        reading = self.entity_description.value_fn(state)
        source = state.status if self.entity_description.lifetime else state.session
        if source is self._reading:
            return
        self._reading = source
        epoch: int | str | None
        if self.entity_description.lifetime:
            epoch = state.link_epoch
        else:
            epoch = state.session.charge_id if state.session else None
        max_power = float(state.info.max_power) if state.info else None
        self._guard.feed(reading, time.time(), epoch, max_power)

    @property
    def native_value(self) -> float | None:
        """What the guard publishes."""
        return self._guard.published


class _GuardStoredData(SensorExtraStoredData):
    """The sensor's restore data plus its guard."""

    def __init__(
        self,
        native_value: Any,
        native_unit_of_measurement: str | None,
        guard: CounterGuard,
    ) -> None:
        super().__init__(native_value, native_unit_of_measurement)
        self.guard = guard

    def as_dict(self) -> dict[str, Any]:
        """Serializable form."""
        return {**super().as_dict(), "guard": self.guard.as_dict()}


class EvseMasterConnectionSensor(EvseMasterSensor):
    """Who holds the session: us, another client (the phone app), or nobody.

    Available while the entry is loaded: it is what tells why the other
    entities are not.
    """

    @property
    def available(self) -> bool:
        """Always: the connection is known even when the charger is not."""
        return True


class EvseMasterCurrentBehaviourSensor(EvseMasterSensor, RestoreEntity):
    """What this charger does with a current change during a session.

    Learned from the charger (see :mod:`current`) and kept across restarts.
    """

    def __init__(
        self,
        coordinator: EvseMasterCoordinator,
        description: EvseMasterSensorDescription,
        watch: CurrentWatch,
    ) -> None:
        """Follow ``watch``."""
        super().__init__(coordinator, description)
        self._watch = watch

    async def async_added_to_hass(self) -> None:
        """Restore what an earlier run learned; follow what is learned now."""
        await super().async_added_to_hass()
        last = await self.async_get_last_state()
        if last is not None and last.state in CURRENT_BEHAVIOURS:
            self._watch.restore(CurrentBehaviour(last.state))
            self.async_write_ha_state()
        self.async_on_remove(self._watch.add_listener(self.async_write_ha_state))

    @property
    def available(self) -> bool:
        """Learned once, it stays true while the charger is away."""
        return True

    @property
    def native_value(self) -> str | None:
        """What was learned (``None`` until a change during a session shows it)."""
        behaviour = self._watch.behaviour
        return None if behaviour is CurrentBehaviour.UNKNOWN else behaviour.value
