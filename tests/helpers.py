"""Test helpers: waiting on Home Assistant state without sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import socket

from homeassistant.core import (
    Event,
    EventStateChangedData,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.event import async_track_state_change_event

from custom_components.evse_master.const import DOMAIN
from custom_components.evse_master.protocol.charger import Charger, ChargerState
from custom_components.evse_master.protocol.enums import Command
from custom_components.evse_master.protocol.frame import (
    Datagram,
    password_field,
    split_packet,
)
from tests.simulator import SimulatedCharger

WAIT = 5.0
"""Upper bound for anything that should happen within milliseconds."""


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing is bound to right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_for_state(
    hass: HomeAssistant,
    entity_id: str,
    predicate: Callable[[State], bool],
    timeout: float = WAIT,
) -> State:
    """Return the entity's state once ``predicate`` holds (now or later)."""
    done: asyncio.Future[State] = hass.loop.create_future()

    @callback
    def check(state: State | None) -> None:
        if state is not None and predicate(state) and not done.done():
            done.set_result(state)

    @callback
    def on_change(event: Event[EventStateChangedData]) -> None:
        check(event.data["new_state"])

    unsubscribe = async_track_state_change_event(hass, [entity_id], on_change)
    check(hass.states.get(entity_id))
    try:
        async with asyncio.timeout(timeout):
            return await done
    except TimeoutError:
        raise AssertionError(
            f"{entity_id} never matched; last state {hass.states.get(entity_id)}"
        ) from None
    finally:
        unsubscribe()


def capture_writes(hass: HomeAssistant, entity_id: str) -> list[State]:
    """Every state written for ``entity_id`` from now on (until the test ends)."""
    writes: list[State] = []

    @callback
    def on_change(event: Event[EventStateChangedData]) -> None:
        if (state := event.data["new_state"]) is not None:
            writes.append(state)

    async_track_state_change_event(hass, [entity_id], on_change)
    return writes


async def wait_for_value(
    hass: HomeAssistant, entity_id: str, value: str, timeout: float = WAIT
) -> State:
    """Return the entity's state once it equals ``value``."""
    return await wait_for_state(hass, entity_id, lambda s: s.state == value, timeout)


async def wait_for_charger(
    charger: Charger,
    predicate: Callable[[ChargerState], bool],
    timeout: float = WAIT,
) -> ChargerState:
    """Return the charger snapshot once ``predicate`` holds (now or later)."""
    done: asyncio.Future[ChargerState] = asyncio.get_running_loop().create_future()

    def check(state: ChargerState) -> None:
        if predicate(state) and not done.done():
            done.set_result(state)

    remove = charger.add_listener(check)
    check(charger.state)
    try:
        async with asyncio.timeout(timeout):
            return await done
    finally:
        remove()


class PhoneApp(asyncio.DatagramProtocol):
    """The vendor app on another host (127.0.0.2): logs in, answers headings."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self._password = b""
        self._serial = ""

    @classmethod
    async def open(cls, client_port: int) -> PhoneApp:
        """Bind 127.0.0.2 on the client port, where chargers answer."""
        loop = asyncio.get_running_loop()
        _, app = await loop.create_datagram_endpoint(
            cls, local_addr=("127.0.0.2", client_port)
        )
        return app

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.DatagramTransport)
        self.transport = transport

    async def login(self, charger: SimulatedCharger) -> None:
        """Take the charger's session, as the app does when opened."""
        self._serial = charger.serial
        self._password = password_field(charger.password)
        confirmed = charger.wait_for(Command.LOGIN_CONFIRM)
        for command in (Command.REQUEST_LOGIN, Command.LOGIN_CONFIRM):
            self._send(Datagram(self._serial, command, b"", self._password), charger)
        async with asyncio.timeout(WAIT):
            await confirmed
        self._charger = charger

    def _send(self, datagram: Datagram, charger: SimulatedCharger) -> None:
        assert self.transport is not None
        self.transport.sendto(datagram.encode(), charger.address)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        for datagram in split_packet(data):
            if datagram.command == Command.HEADING:
                answer = Datagram(
                    self._serial, Command.HEADING_RESPONSE, b"\x00", self._password
                )
                self._send(answer, self._charger)

    def close(self) -> None:
        """Leave: stop answering headings."""
        if self.transport is not None:
            self.transport.close()
            self.transport = None


def charger_device_id(hass: HomeAssistant, serial: str) -> str:
    """The device registry id of the charger with ``serial``.

    Looked up through the config entries: newer Home Assistant deprecates
    ``async_get_device`` and reading ``devices`` as a mapping, and the oldest
    supported one has no replacement for either.
    """
    registry = dr.async_get(hass)
    [device] = [
        device
        for entry in hass.config_entries.async_entries(DOMAIN)
        for device in dr.async_entries_for_config_entry(registry, entry.entry_id)
        if (DOMAIN, serial) in device.identifiers
    ]
    return device.id
