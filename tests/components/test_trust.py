"""A stranger on the LAN forging frames: what Home Assistant shows does not change.

The charger simulator runs on 127.0.0.1; the forged frames come over real UDP
from 127.0.0.2 and 127.0.0.3, or from the charger's own IP where a test needs
the frame believed (damaged bytes the checksum cannot see).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
import socket

from homeassistant.const import (
    CONF_HOST,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.evse_master.const import CONF_ACK_RECORDS, CONF_PORT, DOMAIN
from custom_components.evse_master.hub import MAX_PENDING_DISCOVERIES
from custom_components.evse_master.protocol.enums import Command, GunState
from custom_components.evse_master.protocol.frame import (
    CHARGER_PASSWORD_FIELD,
    Datagram,
)
from custom_components.evse_master.protocol.messages import DeviceInfo, Status
from tests.helpers import WAIT, wait_for_charger, wait_for_state, wait_for_value
from tests.protocol.inprocess import RECORD
from tests.simulator import SimulatedCharger

from .conftest import SERIAL

STATE = "sensor.besen_bs20_charger_state"
ENERGY = "sensor.besen_bs20_lifetime_energy"
POWER = "sensor.besen_bs20_power"
PLUGGED = "binary_sensor.besen_bs20_plugged_in"


class Stranger:
    """A socket on another loopback address that sends forged frames."""

    def __init__(self, host: str, listen_port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.setblocking(False)
        self.to = ("127.0.0.1", listen_port)

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.to)

    def received(self) -> list[bytes]:
        """What came back to this socket (answers must not)."""
        got = []
        while True:
            try:
                got.append(self.sock.recv(65535))
            except BlockingIOError:
                return got


@pytest.fixture
async def strangers(listen_port: int) -> AsyncIterator[tuple[Stranger, Stranger]]:
    """Two other hosts on the LAN."""
    pair = (Stranger("127.0.0.2", listen_port), Stranger("127.0.0.3", listen_port))
    yield pair
    for stranger in pair:
        stranger.sock.close()


def forged(command: int, payload: bytes = b"", serial: str = SERIAL) -> bytes:
    """A frame as the charger would send it: its serial and FF x 6."""
    return Datagram(serial, command, payload, CHARGER_PASSWORD_FIELD).encode()


async def settled(hass: HomeAssistant, simulator: SimulatedCharger) -> None:
    """Let everything in flight arrive: one full round trip with the charger."""
    heard = simulator.wait_for(Command.STATUS_ACK)
    simulator.push_status()
    async with asyncio.timeout(WAIT):
        await heard
    await hass.async_block_till_done()


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_forged_status_changes_nothing(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    strangers: tuple[Stranger, Stranger],
) -> None:
    """Serial, FF x 6 and junk: no 9 million kWh, no fault, no new address."""
    before = {entity: hass.states.get(entity) for entity in (STATE, ENERGY, POWER)}
    data = dict(loaded.data)
    junk = forged(Command.STATUS, b"\xff" * 6 + bytes(range(25)))
    for stranger in strangers:
        stranger.send(junk)
    await settled(hass, simulator)
    after = {entity: hass.states.get(entity) for entity in (STATE, ENERGY, POWER)}
    assert {e: s.state for e, s in after.items() if s} == {
        e: s.state for e, s in before.items() if s
    }
    assert loaded.data == data
    assert loaded.runtime_data.charger.address == simulator.address
    # Nothing was answered, so no password went to the strangers.
    assert [stranger.received() for stranger in strangers] == [[], []]
    # The next datagram with the password goes to the charger itself.
    heard = simulator.wait_for(Command.HEADING_RESPONSE)
    async with asyncio.timeout(WAIT):
        await heard


async def test_forged_password_error_starts_no_reauth(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    strangers: tuple[Stranger, Stranger],
) -> None:
    """One PasswordError: entities stay, no reauth flow."""
    strangers[0].send(forged(Command.PASSWORD_ERROR, b"\x00"))
    await settled(hass, simulator)
    assert hass.states.get(STATE).state == "not_connected"  # type: ignore[union-attr]
    assert hass.config_entries.flow.async_progress_by_handler(DOMAIN) == []
    assert not loaded.runtime_data.charger.state.auth_failed


async def test_unsolicited_login_response_replaces_no_device_info(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    strangers: tuple[Stranger, Stranger],
    device_registry: dr.DeviceRegistry,
) -> None:
    """A LoginResponse nobody asked for: model and maximum current stay."""
    fake = DeviceInfo(12, "FAKE", "X3", "H", 11000, 6)
    strangers[1].send(forged(Command.LOGIN_RESPONSE, fake.build()))
    await settled(hass, simulator)
    [device] = dr.async_entries_for_config_entry(device_registry, loaded.entry_id)
    assert (device.manufacturer, device.model) == ("BESEN", "BS20")
    number = hass.states.get("number.besen_bs20_current_limit")
    assert number is not None
    assert number.attributes["max"] == 32


@pytest.mark.parametrize("platforms", [[Platform.SENSOR]])
async def test_heading_while_logged_out_brings_nothing_back(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    strangers: tuple[Stranger, Stranger],
) -> None:
    """Silent charger, a forged heading: still unavailable, nothing answered."""
    simulator.go_silent()
    await wait_for_value(hass, STATE, STATE_UNAVAILABLE)
    strangers[0].send(forged(Command.HEADING))
    strangers[0].send(forged(Command.STATUS, Status.parse(bytes(25)).build()))
    await asyncio.sleep(0.05)
    await hass.async_block_till_done()
    assert hass.states.get(STATE).state == STATE_UNAVAILABLE  # type: ignore[union-attr]
    assert strangers[0].received() == []


async def test_new_serials_flood_makes_few_cards(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    strangers: tuple[Stranger, Stranger],
) -> None:
    """200 datagrams with 200 serials: a handful of discovery cards at most."""
    info = DeviceInfo(1, "BESEN", "BS20", "H", 7040, 32).build()
    for n in range(200):
        strangers[n % 2].send(forged(Command.LOGIN_ANNOUNCEMENT, info, f"{n:016x}"))
    await settled(hass, simulator)
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert 0 < len(flows) <= MAX_PENDING_DISCOVERIES


def send_from_charger_ip(data: bytes, listen_port: int) -> None:
    """Send from 127.0.0.1 (another port): the session's IP, so it is believed."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as same_host:
        same_host.bind(("127.0.0.1", 0))
        same_host.sendto(data, ("127.0.0.1", listen_port))


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("platforms", [[Platform.SENSOR]])
async def test_damaged_values_keep_the_last_reading(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    listen_port: int,
) -> None:
    """From the charger's own IP, with bytes the checksum cannot tell apart."""
    voltage = "sensor.besen_bs20_voltage_l1"
    temperature = "sensor.besen_bs20_internal_temperature"
    assert hass.states.get(voltage).state == "230"  # type: ignore[union-attr]
    current = loaded.runtime_data.charger.state.status
    assert current is not None
    payload = bytearray(current.build())
    payload[1:3] = b"\xfc\x08"  # 6452.0 V
    payload[13:15] = b"\xfd\xe8"  # 449.0 degC
    send_from_charger_ip(forged(Command.STATUS_RESPONSE, bytes(payload)), listen_port)
    await settled(hass, simulator)
    assert hass.states.get(voltage).state == "230"  # type: ignore[union-attr]
    assert hass.states.get(temperature).state == "25.0"  # type: ignore[union-attr]
    rejected = loaded.runtime_data.charger.diagnostics.rejected_values
    assert rejected["l1.voltage"] == 1
    assert rejected["inner_temperature"] == 1


@pytest.mark.parametrize("platforms", [[Platform.EVENT]])
@pytest.mark.parametrize("entry_options", [{CONF_ACK_RECORDS: True}])
async def test_forged_or_damaged_record_reports_no_session(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    strangers: tuple[Stranger, Stranger],
    listen_port: int,
) -> None:
    """No session event and no acknowledgement; the charger's own record then counts."""
    event = "event.besen_bs20_charging_session"
    assert hass.states.get(event).state == STATE_UNKNOWN  # type: ignore[union-attr]
    strangers[0].send(forged(Command.LOCAL_CHARGE_RECORD, RECORD.build()))
    damaged = replace(RECORD, session_energy=50_000.0)  # bytes the checksum misses
    send_from_charger_ip(
        forged(Command.LOCAL_CHARGE_RECORD, damaged.build()), listen_port
    )
    await settled(hass, simulator)
    assert hass.states.get(event).state == STATE_UNKNOWN  # type: ignore[union-attr]
    assert loaded.runtime_data.charger.state.last_record is None
    assert strangers[0].received() == []
    acks = [
        d for d in simulator.received if d.command == Command.LOCAL_CHARGE_RECORD_ACK
    ]
    assert acks == []

    simulator.emit_record(stored=True)
    state = await wait_for_state(
        hass, event, lambda s: s.attributes.get("event_type") == "session_finished"
    )
    assert state.attributes["energy"] < 1000


async def test_packet_of_headings_gets_one_answer(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    strangers: tuple[Stranger, Stranger],
    listen_port: int,
) -> None:
    """65,500 bytes of 2,620 headings: strangers get nothing; the charger's IP one."""
    packet = forged(Command.HEADING) * 2620
    strangers[0].send(packet)
    loop = asyncio.get_running_loop()
    answers: asyncio.Queue[bytes] = asyncio.Queue()

    class SameHost(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
            answers.put_nowait(data)

    transport, _ = await loop.create_datagram_endpoint(
        SameHost, local_addr=("127.0.0.1", 0)
    )
    try:
        transport.sendto(packet, ("127.0.0.1", listen_port))
        async with asyncio.timeout(WAIT):
            first = await answers.get()
        # The session moved to this port; let the charger's own traffic
        # bring it back and see that no second answer came.
        await settled(hass, simulator)
    finally:
        transport.close()
    heading_answers = [first]
    while not answers.empty():
        heading_answers.append(answers.get_nowait())
    heading_answers = [d for d in heading_answers if d[19:21] == b"\x80\x03"]
    assert len(heading_answers) == 1
    assert strangers[0].received() == []


async def test_encrypted_frames_are_not_read(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    listen_port: int,
) -> None:
    """A frame with key type 1 from the charger's IP is dropped, not parsed."""
    current = loaded.runtime_data.charger.state.status
    assert current is not None
    plugged = replace(current, gun_state=GunState.CONNECTED_UNLOCKED)
    frame = Datagram(
        SERIAL, Command.STATUS, plugged.build(), CHARGER_PASSWORD_FIELD, key_type=1
    ).encode()
    send_from_charger_ip(frame, listen_port)
    await settled(hass, simulator)
    assert hass.states.get(PLUGGED).state == "off"  # type: ignore[union-attr]
    assert loaded.runtime_data.charger.diagnostics.dropped["encrypted"] == 1


async def test_impostor_raises_a_repair_issue(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    strangers: tuple[Stranger, Stranger],
) -> None:
    """Frames with this serial from another device, again and again: a repair."""
    for _ in range(20):
        strangers[0].send(forged(Command.STATUS, bytes(25)))
    await settled(hass, simulator)
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"impostor_{SERIAL}")
    assert issue is not None
    assert issue.translation_key == "impostor"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["source"] == "127.0.0.2"
    assert loaded.data[CONF_HOST] == "127.0.0.1"
    assert loaded.data[CONF_PORT] == simulator.address[1]
    await wait_for_charger(loaded.runtime_data.charger, lambda state: state.logged_in)
