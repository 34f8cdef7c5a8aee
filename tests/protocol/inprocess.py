"""An in-process charger session: datagrams in by hand, sends recorded.

Datagrams go in through the listener's receive callback with a chosen source
address, and what the charger sends is recorded by a listener whose socket is
never opened, so trust and plausibility can be tested without timing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

from custom_components.evse_master.protocol.charger import Charger, ChargerTimings
from custom_components.evse_master.protocol.enums import (
    Command,
    CurrentState,
    GunState,
    OutputState,
    StartType,
    StopReason,
)
from custom_components.evse_master.protocol.frame import (
    CHARGER_PASSWORD_FIELD,
    Datagram,
    decode_datagram,
)
from custom_components.evse_master.protocol.listener import Address, ChargerListener
from custom_components.evse_master.protocol.messages import (
    ChargeRecord,
    DeviceInfo,
    PhaseReading,
    Status,
)

SERIAL = "9181102751219513"
PASSWORD = "123456"
CHARGER: Address = ("127.0.0.1", 30139)
STRANGER: Address = ("127.0.0.2", 30139)
OTHER_STRANGER: Address = ("127.0.0.3", 7248)
INFO = DeviceInfo(1, "BESEN", "BS20", "C.3252.112A008", 7040, 32, "WWW.EVSE.COM")
TIMINGS = ChargerTimings(
    login_timeout=5.0,
    password_confirm_delay=0.0,
    heading_timeout=35.0,
    announcement_grace=0.0,
)


def status(
    energy: float = 1475.85, state: CurrentState = CurrentState.NOT_CONNECTED
) -> Status:
    """A plausible status payload model."""
    return Status(
        line_id=1,
        l1=PhaseReading(235.0, 0.0),
        power=0,
        total_energy=energy,
        inner_temperature=26.74,
        outer_temperature=26.74,
        emergency_button=1,
        gun_state=GunState.DISCONNECTED,
        output_state=OutputState.IDLE,
        reported_state=state,
        errors=0,
    )


def frame(command: int, payload: bytes = b"", **fields: object) -> bytes:
    """A datagram of our serial as a charger would send it."""
    datagram = Datagram(SERIAL, command, payload, CHARGER_PASSWORD_FIELD)
    return replace(datagram, **fields).encode()  # type: ignore[arg-type]


class RecordingListener(ChargerListener):
    """A listener that keeps what it would send instead of opening a socket."""

    def __init__(self) -> None:
        super().__init__("127.0.0.1", 0)
        self.sent: list[tuple[Datagram, Address]] = []

    def send_bytes(self, data: bytes, address: Address) -> None:
        self.sent.append((decode_datagram(data), address))

    def send(
        self, datagram: Datagram, address: Address, *, paced: bool = False
    ) -> None:
        self.sent.append((datagram, address))

    def receive(self, data: bytes, source: Address) -> None:
        self.datagram_received(data, source)


@dataclass
class Session:
    """A charger client logged in to CHARGER."""

    listener: RecordingListener
    charger: Charger

    def receive(self, data: bytes, source: Address = CHARGER) -> None:
        self.listener.receive(data, source)

    def sent_to(self, address: Address) -> list[int]:
        return [d.command for d, to in self.listener.sent if to[0] == address[0]]


async def logged_in(
    timings: ChargerTimings = TIMINGS, *, ack_records: bool = False
) -> Session:
    """Log a charger in by answering its RequestLogin from CHARGER."""
    listener = RecordingListener()
    charger = Charger(
        listener,
        SERIAL,
        PASSWORD,
        address=CHARGER,
        timings=timings,
        ack_records=ack_records,
    )
    await charger.start(login=False)
    login = asyncio.create_task(charger.login())
    await asyncio.sleep(0)
    assert listener.sent[-1][0].command == Command.REQUEST_LOGIN
    listener.receive(frame(Command.LOGIN_RESPONSE, INFO.build()), CHARGER)
    await login
    listener.receive(frame(Command.STATUS, status().build()), CHARGER)
    assert charger.state.logged_in
    assert charger.state.status == status()
    listener.sent.clear()
    return Session(listener, charger)


RECORD = ChargeRecord(
    line_id=1,
    started_by="app",
    stopped_by="app",
    charge_id="2026120207001234",
    has_reservation=0,
    start_type=StartType.APP,
    charge_type=1,
    max_duration=None,
    max_energy=None,
    param3=0,
    stop_reason=StopReason.STOPPED_BY_APP,
    has_stop_charge=1,
    reservation_time=0,
    start_time=1000,
    stop_time=4600,
    charged_time=3600,
    start_energy=100.0,
    stop_energy=107.4,
    session_energy=7.4,
)
"""A finished session as a charger records it (plausible in every field)."""
