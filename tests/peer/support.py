"""The peer, PyPI ``evsemaster`` 3.0.0, and the fixtures that put it on loopback.

Loopback only: the peer's listener gets a free 127.0.0.1 port through its
``listen_port``/``bind_addr`` parameters, its ``FakeEvse`` binds ``ip``
(127.0.0.1; an impostor 127.0.0.2) and sends to ``client_port``, our own
discovery probe goes to the FakeEvse's address only, and the peer's broadcast
probe (``EvseListener.probe``) is never called.

The package ships no type information (no ``py.typed``), and the oldest leg
cannot install it at all, hence the ``type: ignore`` on its imports: to mypy
every name from it is ``Any``.
"""

from __future__ import annotations

import asyncio
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
)
import contextlib
from dataclasses import replace
from datetime import datetime
import logging
import math
from typing import Any
from unittest.mock import patch

from evsemaster import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
    ChargeRecord,
    ChargingStatus,
    CommandEnum,
    DataPacket,
    EvseListener,
    EvseStatus,
)
from evsemaster.protocol import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
    build_packet,
    build_record_ack,
    parse_charge_record,
    parse_charging_status,
    parse_status,
)
from evsemaster.testing import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
    FakeEvse,
    status_payload,
)
from homeassistant.const import CONF_HOST, CONF_PASSWORD
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.evse_master import const
from custom_components.evse_master.const import CONF_PORT, CONF_SERIAL, DOMAIN
from custom_components.evse_master.hub import async_get_hub
from custom_components.evse_master.protocol.charger import ChargerTimings
from custom_components.evse_master.protocol.frame import Datagram
from custom_components.evse_master.protocol.listener import Address
from tests.components.conftest import FAST_CHARGER, FAST_SIMULATOR, PASSWORD, SERIAL
from tests.helpers import WAIT, free_udp_port, wait_for_charger

PEER_CHARGER = replace(
    FAST_CHARGER,
    login_timeout=1.0,
    heading_timeout=2.0,
    request_timeout=1.5,
    announcement_grace=0.5,
)
"""Our charger's timings here: fast, with room for a loaded test machine
(FakeEvse announces every 0.05 s until our LoginConfirm reaches it)."""
FAKE_TIMINGS: dict[str, float] = {"announce_interval": 0.05, "heading_interval": 0.1}
"""FakeEvse's beats, well inside our heading timeout."""
PEER_SIMULATOR = replace(FAST_SIMULATOR, heading_interval=0.5)
"""Our simulator for evsemaster's client: it drops a client after three
unanswered headings, so they come slower than the fastest tests use."""


class PeerCharger(FakeEvse):  # type: ignore[misc]
    """evsemaster's ``FakeEvse``, observable by a test; it answers as FakeEvse does.

    Added on top:

    * futures for the commands it receives and a record of what it sent, so
      tests wait on events instead of sleeping;
    * :meth:`push_status`: the unsolicited 0x0004 a real charger sends, built
      with FakeEvse's own ``status_payload`` (FakeEvse itself only answers
      0x800D and never pushes);
    * a datagram whose command id evsemaster's ``CommandEnum`` lacks is
      recorded in :attr:`unknown` and dropped. ``FakeEvse.datagram_received``
      calls ``CommandEnum(id)`` unguarded, so such an id (our 0x8162 display
      brightness GET, a command of the app's own list) raises ``ValueError``
      in the event loop's read callback, which Home Assistant's test harness
      reports as a failure of the test. A real charger does not crash on a
      command it does not know.
    """

    def __init__(self, serial: str = SERIAL, **options: Any) -> None:
        """FakeEvse with these options; see ``FakeEvse.__init__``."""
        super().__init__(serial, **options)
        self.unknown: list[int] = []
        """Command ids FakeEvse could not have handled."""
        self.sent: dict[int, bytes] = {}
        """Last payload FakeEvse sent, by command id."""
        self.login_passwords: list[bytes] = []
        """Header password field of every RequestLogin (0x8002) received."""
        self._waiters: list[tuple[int, list[int], asyncio.Future[bytes]]] = []
        self._heard: set[int] = set()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        """FakeEvse's handling, then wake the waiters of this command."""
        command = int.from_bytes(data[19:21], "big")
        try:
            CommandEnum(command)
        except ValueError:
            self.unknown.append(command)
        else:
            if command == CommandEnum.LOGIN_REQUEST:
                self.login_passwords.append(bytes(data[13:19]))
            super().datagram_received(data, addr)
        self._heard.add(command)
        payload = bytes(data[21:-4])
        for waiter in list(self._waiters):
            wanted, remaining, future = waiter
            if wanted != command or future.done():
                continue
            remaining[0] -= 1
            if remaining[0] <= 0:
                future.set_result(payload)
                self._waiters.remove(waiter)

    def send(self, cmd: int, payload: bytes = b"") -> None:
        """FakeEvse's send, remembering the payload."""
        self.sent[int(cmd)] = bytes(payload)
        super().send(cmd, payload)

    def wait_for(self, command: int, *, count: int = 1) -> asyncio.Future[bytes]:
        """Future of the payload of the ``count``-th ``command`` from now on."""
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiters.append((int(command), [count], future))
        return future

    async def heard(self, command: int) -> None:
        """Return once ``command`` has arrived (at any time, also before the call)."""
        if int(command) not in self._heard:
            await within(self.wait_for(command))

    async def past_grace(self) -> None:
        """Return once our login is older than its announcement grace.

        Measured in answered headings, which FakeEvse sends every
        ``heading_interval`` seconds.
        """
        beats = math.ceil(PEER_CHARGER.announcement_grace / self.heading_interval)
        await within(self.wait_for(CommandEnum.HEADING_RESPONSE, count=beats + 1))

    def received_count(self, command: int) -> int:
        """How often ``command`` arrived so far."""
        return sum(1 for received in self.received if received == command)

    @property
    def address(self) -> Address:
        """Where FakeEvse listens and sends from."""
        return str(self.ip), int(self.port)

    def push_status(self) -> None:
        """Send FakeEvse's status (its ``state``/``plug``/``errors``) unsolicited."""
        self.send(
            CommandEnum.CURRENT_STATUS_EVENT,
            status_payload(
                self.three_phase, state=self.state, plug=self.plug, errors=self.errors
            ),
        )

    async def close(self) -> None:
        """FakeEvse.stop(), then wait for the tasks it cancels without awaiting.

        Home Assistant's test cleanup fails a test that leaves tasks behind.
        """
        tasks = [t for t in (self._heading_task, self._announce_task) if t is not None]
        self.stop()
        await asyncio.gather(*tasks, return_exceptions=True)


def _peer_packet(fake: PeerCharger, command: int) -> Any:
    """The last datagram of ``command`` FakeEvse sent, as evsemaster parses it."""
    return DataPacket(
        build_packet(command, fake.serial, fake.password, fake.sent[command])
    )


def _epoch_to_datetime(_epoch: int) -> datetime | None:
    # The fields the tests compare are not timestamps.
    return None


def peer_status(fake: PeerCharger, command: int = CommandEnum.STATUS_EVENT) -> Any:
    """The status FakeEvse last sent, decoded by evsemaster's own parser."""
    status = parse_status(_peer_packet(fake, command))
    assert isinstance(status, EvseStatus)
    return status


def peer_session(fake: PeerCharger) -> Any:
    """The charging status FakeEvse last sent (0x0006), decoded by evsemaster."""
    packet = _peer_packet(fake, CommandEnum.CHARGING_STATUS_EVENT)
    session = parse_charging_status(packet, _epoch_to_datetime)
    assert isinstance(session, ChargingStatus)
    return session


def _record_packet(fake: PeerCharger, payload: bytes) -> Any:
    command = CommandEnum.CURRENT_CHARGE_RECORD_EVENT
    return DataPacket(build_packet(command, fake.serial, fake.password, payload))


def peer_record(fake: PeerCharger, payload: bytes) -> Any:
    """A charge record payload as evsemaster decodes it."""
    record = parse_charge_record(_record_packet(fake, payload), 0, _epoch_to_datetime)
    assert isinstance(record, ChargeRecord)
    return record


def peer_record_ack(fake: PeerCharger, payload: bytes) -> bytes:
    """The acknowledgement evsemaster sends for a charge record payload."""
    ack = build_record_ack(_record_packet(fake, payload))
    assert isinstance(ack, bytes)
    return ack


async def within[T](awaitable: Awaitable[T], timeout: float = WAIT) -> T:
    """Await ``awaitable`` for at most ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        return await awaitable


# --- evsemaster's client ----------------------------------------------------------


class PeerEvents:
    """The ``on_event`` callback of an evsemaster device, with futures on it."""

    def __init__(self) -> None:
        """Nothing received yet."""
        self.events: list[tuple[str, Any]] = []
        self._waiters: list[tuple[str, Callable[[Any], bool], asyncio.Future[Any]]] = []

    def __call__(self, event_type: str, data: Any) -> None:
        """Record one event (evsemaster calls this synchronously)."""
        # evsemaster hands out its live model objects and updates them in place.
        snapshot = data.model_copy(deep=True) if hasattr(data, "model_copy") else data
        self.events.append((event_type, snapshot))
        for waiter in list(self._waiters):
            wanted, predicate, future = waiter
            if wanted == event_type and not future.done() and predicate(snapshot):
                future.set_result(snapshot)
                self._waiters.remove(waiter)

    def next(
        self, event_type: str, predicate: Callable[[Any], bool] = lambda _: True
    ) -> asyncio.Future[Any]:
        """Future of the next ``event_type`` event (from now on) that matches."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.append((event_type, predicate, future))
        return future


class LogWaiter(logging.Handler):
    """Resolves a future when a record containing ``text`` is logged."""

    def __init__(self, text: str) -> None:
        """Wait for ``text``."""
        super().__init__(logging.DEBUG)
        self.text = text
        self.future: asyncio.Future[logging.LogRecord] = (
            asyncio.get_running_loop().create_future()
        )

    def emit(self, record: logging.LogRecord) -> None:
        """Resolve on the first matching record."""
        if self.text in record.getMessage() and not self.future.done():
            self.future.set_result(record)


@pytest.fixture
async def peer_listener() -> AsyncGenerator[Any]:
    """evsemaster's listener on a free 127.0.0.1 port (its constructor's parameters)."""
    listener = EvseListener(listen_port=free_udp_port(), bind_addr="127.0.0.1")
    assert await listener.start()
    yield listener
    await listener.stop()


# --- our integration against FakeEvse ---------------------------------------------


@pytest.fixture
def charger_timings() -> ChargerTimings:
    """Timings of our charger client in these tests."""
    return PEER_CHARGER


@pytest.fixture(autouse=True)
def peer_waits(listen_port: int) -> Generator[None]:
    """Setup and config flow bounds with room for a loaded machine."""
    with (
        patch.object(const, "CONNECT_WAIT", 3.0),
        patch.object(const, "SETUP_TIMEOUT", 3.0),
    ):
        yield


@pytest.fixture
def fake_options() -> dict[str, Any]:
    """FakeEvse options beyond serial, password, loopback and beats; parametrize it."""
    return {}


type StartFake = Callable[..., Awaitable[PeerCharger]]


@pytest.fixture
async def start_fake(listen_port: int) -> AsyncGenerator[StartFake]:
    """Start FakeEvses on 127.0.0.1 that send to our listener; all stop at the end."""
    fakes: list[PeerCharger] = []

    async def start(**options: Any) -> PeerCharger:
        settings: dict[str, Any] = {
            "password": PASSWORD,
            "ip": "127.0.0.1",
            "client_port": listen_port,
            **FAKE_TIMINGS,
            **options,
        }
        fake = PeerCharger(**settings)
        fakes.append(fake)
        await fake.start()
        return fake

    yield start
    for fake in fakes:
        await fake.close()


@pytest.fixture
async def fake_evse(
    start_fake: StartFake,
    fake_options: dict[str, Any],
    probe_targets: list[Address],
) -> PeerCharger:
    """One FakeEvse; our discovery probe goes to it (and nowhere else)."""
    fake = await start_fake(**fake_options)
    probe_targets.append(fake.address)
    return fake


def fake_entry_data(fake: PeerCharger) -> dict[str, object]:
    """Config entry data as our config flow stores it for ``fake``."""
    host, port = fake.address
    return {
        CONF_SERIAL: fake.serial,
        CONF_PASSWORD: fake.password,
        CONF_HOST: host,
        CONF_PORT: port,
    }


@pytest.fixture
def fake_entry_options() -> dict[str, Any]:
    """Options of the FakeEvse's config entry; parametrize it."""
    return {}


@pytest.fixture
def fake_entry(
    fake_evse: PeerCharger, fake_entry_options: dict[str, Any]
) -> MockConfigEntry:
    """A config entry for the FakeEvse, its address known."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"{fake_evse.brand} {fake_evse.model}",
        unique_id=fake_evse.serial,
        data=fake_entry_data(fake_evse),
        options=fake_entry_options,
        minor_version=2,
    )


@pytest.fixture
async def fake_integration(
    hass: HomeAssistant, fake_entry: MockConfigEntry, fake_evse: PeerCharger
) -> AsyncGenerator[MockConfigEntry]:
    """Our integration set up for the FakeEvse, with its status and session read."""
    fake_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(fake_entry.entry_id)
    await hass.async_block_till_done()
    await wait_for_charger(
        fake_entry.runtime_data.charger,
        lambda state: (
            state.logged_in
            and state.status is not None
            and state.session is not None
            and state.settings.max_current is not None
        ),
    )
    await hass.async_block_till_done()
    yield fake_entry
    await hass.config_entries.async_unload(fake_entry.entry_id)
    await hass.async_block_till_done()


@contextlib.asynccontextmanager
async def handled_by_us(
    hass: HomeAssistant, serial: str, command: int, count: int = 1
) -> AsyncIterator[None]:
    """On exit, wait until our charger client has handled ``count`` ``command``s.

    Our listener hands a datagram to the handlers of its serial in the order
    they registered, the entry's charger client first, then this observer.
    """
    seen: asyncio.Future[None] = hass.loop.create_future()
    remaining = count

    def observe(datagram: Datagram, _source: Address) -> None:
        nonlocal remaining
        if datagram.command == command and not seen.done():
            remaining -= 1
            if remaining <= 0:
                seen.set_result(None)

    remove = async_get_hub(hass).shared.listener.register(serial, observe)
    try:
        yield
        await within(seen)
    finally:
        remove()


def entity_of(hass: HomeAssistant, domain: str, serial: str, key: str) -> str:
    """Entity id of one of our entities, found by its unique id."""
    entity_id = er.async_get(hass).async_get_entity_id(
        domain, DOMAIN, f"{serial}_{key}"
    )
    assert entity_id is not None, f"no {domain} entity {key}"
    return entity_id
