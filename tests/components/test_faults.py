"""Repair issues for the faults that stop a charger from charging.

One issue per fault group (issue id ``<group>_<serial>``, placeholders name and
faults) while the charger reports a fault of that group; it goes when the
fault clears, and every issue goes when the entry unloads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from homeassistant.const import Platform
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.evse_master.const import DOMAIN
from custom_components.evse_master.protocol.enums import Command, Fault
from tests.helpers import WAIT, wait_for_charger
from tests.simulator import SimulatedCharger

from .conftest import FAST_SIMULATOR, PASSWORD, SERIAL, entry_data

NAME = "BESEN BS20"
"""The entry's title: the issues' name placeholder."""

type Issues = dict[str, tuple[str | None, dict[str, str] | None]]
"""Issue id -> (translation key, placeholders) of this integration's issues."""

GROUPS: dict[str, tuple[Fault | int, ...]] = {
    "fault_emergency_stop": (Fault.EMERGENCY_STOP,),
    "fault_electrical": (
        Fault.RELAY_STUCK_L1,
        Fault.RELAY_STUCK_L2,
        Fault.RELAY_STUCK_L3,
        Fault.LEAKAGE_PROTECTION,
        Fault.SHORT_CIRCUIT,
        Fault.OVER_CURRENT,
        Fault.NOT_GROUNDED,
        Fault.DIODE_SHORT_CIRCUIT,
    ),
    "fault_temperature": (
        Fault.INNER_OVER_TEMPERATURE,
        Fault.OUTER_OVER_TEMPERATURE,
        Fault.NO_VENTILATION,
    ),
    "fault_supply": (
        Fault.OVER_VOLTAGE,
        Fault.UNDER_VOLTAGE,
        Fault.INPUT_POWER_ERROR,
        Fault.MAINS_OVERLOAD,
    ),
    "fault_cable": (Fault.CC_ERROR, Fault.CP_ERROR),
    "fault_other": (
        Fault.OFFLINE,
        Fault.UNKNOWN_ERROR,
        *range(16, 24),  # codes without a name
        Fault.RTC_FAILURE,
        Fault.FLASH_FAILURE,
        Fault.EEPROM_FAILURE,
        Fault.METERING_FAILURE,
    ),
}
"""What each issue's advice is about (the translations' titles and texts)."""


@pytest.fixture
def platforms() -> list[Platform]:
    """Issues come from the coordinator: one light platform is enough."""
    return [Platform.BINARY_SENSOR]


def issue_id(key: str, serial: str = SERIAL) -> str:
    """The id of a fault group's issue for a charger."""
    return f"{key}_{serial}"


def fault_name(code: Fault | int) -> str:
    """How a fault is named in the issue text."""
    return (
        code.name.lower().replace("_", " ")
        if isinstance(code, Fault)
        else (f"code {code}")
    )


def current_issues(hass: HomeAssistant) -> Issues:
    """The active issues of this integration."""
    return {
        issue_id: (issue.translation_key, issue.translation_placeholders)
        for (domain, issue_id), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN and issue.active
    }


def expected(
    *groups: tuple[str, Iterable[Fault | int]], serial: str = SERIAL, name: str = NAME
) -> Issues:
    """The issues for ``(group, faults)`` pairs of one charger."""
    return {
        issue_id(key, serial): (
            key,
            {"name": name, "faults": ", ".join(fault_name(f) for f in faults)},
        )
        for key, faults in groups
    }


async def wait_for_issues(
    hass: HomeAssistant,
    predicate: Callable[[Issues], bool],
    timeout: float = WAIT,
) -> Issues:
    """The integration's issues once ``predicate`` holds (now or later)."""
    done: asyncio.Future[Issues] = hass.loop.create_future()

    @callback
    def check(_event: Event[Any] | None = None) -> None:
        issues = current_issues(hass)
        if predicate(issues) and not done.done():
            done.set_result(issues)

    unsubscribe = hass.bus.async_listen(ir.EVENT_REPAIRS_ISSUE_REGISTRY_UPDATED, check)
    check()
    try:
        async with asyncio.timeout(timeout):
            return await done
    except TimeoutError:
        raise AssertionError(
            f"issues never matched; last {current_issues(hass)}"
        ) from None
    finally:
        unsubscribe()


async def wait_for_exactly(
    hass: HomeAssistant, issues: Issues, timeout: float = WAIT
) -> None:
    """Wait until the integration's issues are exactly ``issues``."""
    await wait_for_issues(hass, lambda now: now == issues, timeout)


def capture_issue_events(hass: HomeAssistant) -> list[tuple[str, str]]:
    """(action, issue id) of every issue registry change from now on."""
    events: list[tuple[str, str]] = []

    @callback
    def on_event(event: Event[ir.EventIssueRegistryUpdatedData]) -> None:
        if event.data["domain"] == DOMAIN:
            events.append((event.data["action"], event.data["issue_id"]))

    hass.bus.async_listen(ir.EVENT_REPAIRS_ISSUE_REGISTRY_UPDATED, on_event)
    return events


def test_the_groups_name_every_fault() -> None:
    """Every named fault belongs to exactly one group (so this table is complete)."""
    grouped = [code for codes in GROUPS.values() for code in codes]
    assert len(grouped) == len(set(grouped))
    assert set(Fault) <= set(grouped)
    assert set(grouped) == set(range(32))


async def test_every_fault_opens_the_issue_of_its_group(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """Code by code: its group's issue, and no other."""
    await wait_for_exactly(hass, {})
    for key, codes in GROUPS.items():
        for code in codes:
            simulator.set_faults([code])
            await wait_for_exactly(hass, expected((key, [code])))
    simulator.set_faults([])
    await wait_for_exactly(hass, {})


def press_emergency_stop(simulator: SimulatedCharger, pressed: bool) -> None:
    """The emergency button."""
    simulator.set_emergency_stop(pressed)


def fault_setter(
    *codes: Fault | int,
) -> Callable[[SimulatedCharger, bool], None]:
    """Report ``codes`` (True) or nothing (False)."""

    def set_faults(simulator: SimulatedCharger, active: bool) -> None:
        simulator.set_faults(codes if active else ())

    return set_faults


@pytest.mark.parametrize(
    ("toggle", "key", "faults"),
    [
        (press_emergency_stop, "fault_emergency_stop", "emergency stop"),
        (
            fault_setter(Fault.LEAKAGE_PROTECTION),
            "fault_electrical",
            "leakage protection",
        ),
        (
            fault_setter(Fault.OUTER_OVER_TEMPERATURE),
            "fault_temperature",
            "outer over temperature",
        ),
        (fault_setter(Fault.UNDER_VOLTAGE), "fault_supply", "under voltage"),
        (fault_setter(Fault.CP_ERROR), "fault_cable", "cp error"),
        (fault_setter(Fault.EEPROM_FAILURE), "fault_other", "eeprom failure"),
        (fault_setter(17), "fault_other", "code 17"),
    ],
    ids=[
        "emergency_stop",
        "electrical",
        "temperature",
        "supply",
        "cable",
        "other",
        "unnamed",
    ],
)
async def test_fault_opens_an_issue_that_goes_with_it(
    hass: HomeAssistant,
    *,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    toggle: Callable[[SimulatedCharger, bool], None],
    key: str,
    faults: str,
) -> None:
    """An error issue, translated, naming the charger and the fault; then gone."""
    await wait_for_exactly(hass, {})
    toggle(simulator, True)
    await wait_for_exactly(
        hass, {issue_id(key): (key, {"name": NAME, "faults": faults})}
    )
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id(key))
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.ERROR
    assert not issue.is_fixable
    assert not issue.is_persistent  # a restart forgets it; the charger tells again

    toggle(simulator, False)
    await wait_for_exactly(hass, {})
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id(key)) is None


async def test_faults_changing_within_a_group_update_the_issue(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """Another fault of the same group: the same issue, with the new faults."""
    events = capture_issue_events(hass)
    electrical = issue_id("fault_electrical")
    simulator.set_faults([Fault.LEAKAGE_PROTECTION])
    await wait_for_exactly(
        hass, expected(("fault_electrical", [Fault.LEAKAGE_PROTECTION]))
    )
    simulator.set_faults([Fault.LEAKAGE_PROTECTION, Fault.NOT_GROUNDED])
    await wait_for_exactly(
        hass,
        {
            electrical: (
                "fault_electrical",
                {"name": NAME, "faults": "leakage protection, not grounded"},
            )
        },
    )
    simulator.set_faults([Fault.NOT_GROUNDED])
    await wait_for_exactly(hass, expected(("fault_electrical", [Fault.NOT_GROUNDED])))
    # Pushes repeating the same faults change nothing.
    await wait_for_charger(
        loaded.runtime_data.charger,
        lambda state: state.faults == (Fault.NOT_GROUNDED,),
    )
    async with asyncio.timeout(WAIT):
        await simulator.wait_for(Command.STATUS_ACK, count=2)  # two more pushes
    await hass.async_block_till_done()
    assert events == [
        ("create", electrical),
        ("update", electrical),
        ("update", electrical),
    ]


async def test_several_groups_at_once(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """One issue per group; each goes with its own faults, the others stay."""
    faults: list[Fault | int] = [
        Fault.CP_ERROR,
        Fault.OVER_VOLTAGE,
        20,
        Fault.RTC_FAILURE,
    ]
    simulator.set_emergency_stop(True)
    simulator.set_faults(faults)
    await wait_for_exactly(
        hass,
        expected(
            ("fault_emergency_stop", [Fault.EMERGENCY_STOP]),
            ("fault_cable", [Fault.CP_ERROR]),
            ("fault_supply", [Fault.OVER_VOLTAGE]),
            ("fault_other", [20, Fault.RTC_FAILURE]),
        ),
    )
    assert current_issues(hass)[issue_id("fault_other")][1] == {
        "name": NAME,
        "faults": "code 20, rtc failure",
    }
    events = capture_issue_events(hass)
    simulator.set_faults([Fault.OVER_VOLTAGE, 20, Fault.RTC_FAILURE])
    await wait_for_exactly(
        hass,
        expected(
            ("fault_emergency_stop", [Fault.EMERGENCY_STOP]),
            ("fault_supply", [Fault.OVER_VOLTAGE]),
            ("fault_other", [20, Fault.RTC_FAILURE]),
        ),
    )
    assert events == [("remove", issue_id("fault_cable"))]
    simulator.set_emergency_stop(False)
    await wait_for_exactly(
        hass,
        expected(
            ("fault_supply", [Fault.OVER_VOLTAGE]),
            ("fault_other", [20, Fault.RTC_FAILURE]),
        ),
    )
    simulator.set_faults([])
    await wait_for_exactly(hass, {})


async def test_unload_removes_every_issue(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """Unloading takes the issues along; a new setup finds the faults again."""
    simulator.set_emergency_stop(True)
    simulator.set_faults([Fault.NOT_GROUNDED, Fault.NO_VENTILATION, 18])
    faulty = expected(
        ("fault_electrical", [Fault.NOT_GROUNDED]),
        ("fault_emergency_stop", [Fault.EMERGENCY_STOP]),
        ("fault_temperature", [Fault.NO_VENTILATION]),
        ("fault_other", [18]),
    )
    await wait_for_exactly(hass, faulty)
    assert await hass.config_entries.async_unload(loaded.entry_id)
    await hass.async_block_till_done()
    assert current_issues(hass) == {}
    assert simulator.faults  # still faulty: only the entry went

    assert await hass.config_entries.async_setup(loaded.entry_id)
    await wait_for_exactly(hass, faulty)


async def test_fault_cleared_during_a_restart_leaves_no_issue(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A fault that clears while Home Assistant restarts: no stale issue after."""
    simulator.set_faults([Fault.OVER_CURRENT])
    await wait_for_exactly(hass, expected(("fault_electrical", [Fault.OVER_CURRENT])))
    assert await hass.config_entries.async_unload(loaded.entry_id)
    await hass.async_block_till_done()
    simulator.set_faults([])  # fixed while Home Assistant was down

    assert await hass.config_entries.async_setup(loaded.entry_id)
    await wait_for_charger(
        loaded.runtime_data.charger,
        lambda state: state.logged_in and state.status is not None,
    )
    await hass.async_block_till_done()
    assert current_issues(hass) == {}
    # The new run does report: a fault now opens its issue.
    simulator.set_faults([Fault.CC_ERROR])
    await wait_for_exactly(hass, expected(("fault_cable", [Fault.CC_ERROR])))


async def test_fault_cleared_during_a_reload_leaves_no_issue(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """The same through a reload, the charger's fault clearing while it runs."""
    simulator.set_faults([Fault.MAINS_OVERLOAD])
    await wait_for_exactly(hass, expected(("fault_supply", [Fault.MAINS_OVERLOAD])))
    unloaded = asyncio.Event()

    @callback
    def on_unload() -> None:
        simulator.set_faults([])
        unloaded.set()

    loaded.async_on_unload(on_unload)
    assert await hass.config_entries.async_reload(loaded.entry_id)
    assert unloaded.is_set()
    await wait_for_charger(
        loaded.runtime_data.charger,
        lambda state: state.logged_in and state.status is not None,
    )
    await hass.async_block_till_done()
    assert current_issues(hass) == {}


async def test_two_chargers_have_their_own_issues(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    listen_port: int,
) -> None:
    """Issues are per charger: one's fault clearing leaves the other's issue."""
    other_serial = "9181102751219514"
    async with SimulatedCharger(
        other_serial,
        PASSWORD,
        "bs20",
        client_port=listen_port,
        timings=FAST_SIMULATOR,
    ) as other:
        entry = MockConfigEntry(
            domain=DOMAIN,
            title="Garage",
            unique_id=other_serial,
            data=entry_data(other),
            minor_version=2,
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await wait_for_charger(
            entry.runtime_data.charger,
            lambda state: state.logged_in and state.status is not None,
        )
        simulator.set_faults([Fault.CP_ERROR])
        other.set_faults([Fault.CP_ERROR, Fault.UNDER_VOLTAGE])
        first = expected(("fault_cable", [Fault.CP_ERROR]))
        second = expected(
            ("fault_cable", [Fault.CP_ERROR]),
            ("fault_supply", [Fault.UNDER_VOLTAGE]),
            serial=other_serial,
            name="Garage",
        )
        await wait_for_exactly(hass, first | second)
        simulator.set_faults([])
        await wait_for_exactly(hass, second)
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
        assert current_issues(hass) == {}
