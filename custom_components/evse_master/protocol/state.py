"""What a charger client knows: timings, the state snapshot and diagnostics."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from enum import StrEnum
from operator import attrgetter
from typing import Any, Final

from . import const
from .enums import (
    CurrentState,
    Fault,
    GunState,
    Language,
    OutputState,
    StartMode,
    TemperatureUnit,
    decode_faults,
)
from .messages import (
    ChargeRecord,
    ChargeStartResponse,
    ChargingStatus,
    DeviceInfo,
    PhaseReading,
    Status,
    Version,
)
from .plausibility import ABSOLUTE_POWER, Limits, within

type Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class ChargerTimings:
    """Timeouts and intervals, in seconds; tests shrink them."""

    login_timeout: float = 3.0
    """Wait for LoginResponse per attempt."""
    login_attempts: int = 3
    password_confirm_delay: float = 1.0
    """A PasswordError counts only if a second login this much later gets one too."""
    request_timeout: float = 5.0
    heading_timeout: float = 35.0
    """No heading for this long = session lost (three missed beats)."""
    relogin_cooldown: float = 15.0
    """Shortest time between two automatic re-logins (stops loops)."""
    announcement_grace: float = 3.0
    """Announcements right after a login are stale and do not end the session."""
    min_restart_interval: float = 30.0
    """Shortest time from a stop to the next start (relay/contactor wear)."""
    status_poll_after: float = 20.0
    """Logged in but no status for this long (about two pushes): ask for it."""
    pushes_stopped_after: float = 60.0
    """A charger that pushed to us and stopped for this long while still
    heading (some firmware broadcasts headings) serves another client."""
    probe_interval: float = 30.0
    """While logged out and silent: how often to check the charger is reachable."""
    pinned_retry_interval: float = 120.0
    """A pinned charger held by another client: how often to try to log in
    (its announcement that the other client left cannot reach us)."""


class Connection(StrEnum):
    """Who holds the charger's one session, as far as we can tell."""

    CONNECTING = "connecting"
    """No session yet since start."""
    CONNECTED = "connected"
    TAKEN = "taken"
    """The charger answers but serves another client (the phone app)."""
    OFFLINE = "offline"
    """Nothing heard for the heading timeout."""
    AUTH_FAILED = "auth_failed"


@dataclass(frozen=True, slots=True)
class ChargerSettings:
    """Settings read from the charger; ``None`` until its reply arrives."""

    max_current: int | None = None
    nickname: str | None = None
    language: Language | None = None
    temperature_unit: TemperatureUnit | None = None
    start_mode: StartMode | None = None
    lcd_brightness: int | None = None


@dataclass(frozen=True, slots=True)
class ChargerState:
    """Immutable snapshot of everything known about a charger."""

    serial: str
    logged_in: bool = False
    """A session is established and headings keep arriving."""
    online: bool = False
    """Something believable was heard within the heading timeout."""
    auth_failed: bool = False
    """The charger refused the password twice; nothing is retried until it changes."""
    connection: Connection = Connection.CONNECTING
    address: Address | None = None
    """Where the session lives (only moved as :mod:`trust` allows)."""
    link_epoch: int = 0
    """Counts the times the charger came back after an absence or a reboot."""
    impostor: str | None = None
    """IP of another device that keeps sending frames with this serial."""
    info: DeviceInfo | None = None
    version: Version | None = None
    status: Status | None = None
    session: ChargingStatus | None = None
    settings: ChargerSettings = field(default_factory=ChargerSettings)
    last_record: ChargeRecord | None = None
    last_start: ChargeStartResponse | None = None

    @property
    def max_current(self) -> int:
        """Highest current the charger accepts (its announced hardware limit)."""
        announced = self.info.max_current if self.info else const.ABSOLUTE_MAX_CURRENT
        return max(const.MIN_CURRENT, min(announced, const.ABSOLUTE_MAX_CURRENT))

    @property
    def limits(self) -> Limits:
        """Plausibility limits from the announcement."""
        if self.info is None:
            return Limits()
        return Limits(max_current=self.max_current, max_power=self.info.max_power)

    @property
    def phases(self) -> int:
        """Phases the charger drives: by its type code or by what its status shows."""
        by_type = self.info.phases if self.info else 1
        shown = self.status.phase_count if self.status else 1
        return max(by_type, shown)

    @property
    def current_state(self) -> CurrentState | None:
        """The charger's state from the latest status."""
        return self.status.current_state if self.status else None

    @property
    def plugged_in(self) -> bool | None:
        """Whether a car is plugged in."""
        if self.status is None:
            return None
        return self.status.gun_state not in (GunState.UNKNOWN, GunState.DISCONNECTED)

    @property
    def charging(self) -> bool | None:
        """Whether power flows to the car (relay closed)."""
        if self.status is None:
            return None
        return self.status.output_state == OutputState.CHARGING

    @property
    def session_active(self) -> bool | None:
        """Whether a session is running (charging or waiting for the car)."""
        if self.status is None:
            return None
        return self.charging or self.status.current_state == CurrentState.CHARGING

    @property
    def completed(self) -> bool:
        """Whether the last session finished and the charger waits for a stop."""
        return self.current_state in (
            CurrentState.COMPLETED,
            CurrentState.COMPLETED_FULL_CHARGE,
        )

    @property
    def scheduled(self) -> bool:
        """Whether a planned session waits for its start time."""
        return self.current_state == CurrentState.CHARGING_RESERVATION

    @property
    def faults(self) -> tuple[Fault | int, ...]:
        """Active fault codes."""
        return decode_faults(self.status.errors) if self.status else ()

    @property
    def power(self) -> float | None:
        """Charging power in W: the larger of the reported field and Σ V·I.

        Some three-phase units report L1 only in the power field.
        """
        if self.status is None:
            return None
        reported = self.status.power
        computed: float | None = self.status.computed_power
        bounds = self.limits.power if not reported else ABSOLUTE_POWER
        if not within(computed, bounds):
            # A zero field beside phase currents summing to more than the
            # charger announces is an emulator's fixed readings, not a power.
            # A non-zero field below the sum is an L1-only unit, which may
            # also announce its single-phase power.
            computed = None
        if computed is None:
            return None if reported is None else float(reported)
        if reported is None:
            return computed
        return float(max(reported, computed))

    def phase(self, index: int) -> PhaseReading | None:
        """Reading of phase ``index`` (0 = L1) if the charger has that phase."""
        if self.status is None or index >= self.phases:
            return None
        return (self.status.l1, self.status.l2, self.status.l3)[index]


_STATE_FIELDS: Final = {
    field.name: index for index, field in enumerate(fields(ChargerState))
}
_STATE_VALUES: Final = attrgetter(*_STATE_FIELDS)


def renewed(state: ChargerState, changes: dict[str, Any]) -> ChargerState:
    """``dataclasses.replace`` without its per-field checks (every push renews one)."""
    values = list(_STATE_VALUES(state))
    for name, value in changes.items():
        values[_STATE_FIELDS[name]] = value
    return ChargerState(*values)


@dataclass(slots=True)
class ChargerDiagnostics:
    """Counters and raw bytes for the diagnostics download; never in the snapshot.

    Kept apart from :class:`ChargerState` so counting does not look like a
    change to anyone listening for snapshots.
    """

    dropped: Counter[str] = field(default_factory=Counter)
    """Datagrams not believed, by :class:`trust.Drop` reason."""
    last_foreign_source: Address | None = None
    rejected_values: Counter[str] = field(default_factory=Counter)
    """Implausible values kept out of the snapshot, by field."""
    last_rejected: dict[str, object] = field(default_factory=dict)
    """The raw value of each field's last rejection."""
    last_payloads: dict[int, bytes] = field(default_factory=dict)
    """The last raw payload of every command received (unexplained bytes included)."""
    logins: int = 0
    relogins: int = 0
    malformed: int = 0
