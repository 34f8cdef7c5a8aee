"""Tests of the shared UDP listener over real loopback sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import logging
import socket

from freezegun.api import FrozenDateTimeFactory
from hypothesis import given, settings, strategies as st
import pytest

from custom_components.evse_master.protocol.enums import Command
from custom_components.evse_master.protocol.errors import PortInUseError
from custom_components.evse_master.protocol.frame import (
    CHARGER_PASSWORD_FIELD,
    MAX_DATAGRAMS_PER_PACKET,
    Datagram,
    password_field,
)
from custom_components.evse_master.protocol.listener import (
    PACE_INTERVAL,
    PROBE_ANSWER_WINDOW,
    Address,
    ChargerListener,
    DiscoveredCharger,
    SharedListener,
)
from custom_components.evse_master.protocol.messages import DeviceInfo, Heading
from tests.helpers import WAIT, free_udp_port

SERIAL = "9181102751219513"
OTHER = "8368555670377598"
INFO = DeviceInfo(1, "BESEN", "BS20", "C.3252.112A008", 7040, 32, "WWW.EVSE.COM")


def charger_frame(serial: str = SERIAL, command: int = Command.HEADING) -> bytes:
    """A datagram as a charger sends it."""
    payload = INFO.build() if command == Command.LOGIN_ANNOUNCEMENT else b""
    return Datagram(serial, command, payload, CHARGER_PASSWORD_FIELD).encode()


class Peer(asyncio.DatagramProtocol):
    """A loopback socket that records what it receives."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.DatagramTransport)
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.received.put_nowait(data)

    @property
    def address(self) -> Address:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return host, port

    def send(self, data: bytes, to: Address) -> None:
        assert self.transport is not None
        self.transport.sendto(data, to)


async def open_peer(host: str = "127.0.0.1") -> Peer:
    """Bind a recording socket on an ephemeral port."""
    loop = asyncio.get_running_loop()
    _, peer = await loop.create_datagram_endpoint(Peer, local_addr=(host, 0))
    return peer


@pytest.fixture
async def listener() -> AsyncGenerator[ChargerListener]:
    """An open listener on a free loopback port."""
    instance = ChargerListener("127.0.0.1", 0)
    await instance.start()
    yield instance
    instance.close()


async def test_routes_by_serial_with_source(listener: ChargerListener) -> None:
    """Datagrams reach the handler of their serial (any spelling), with the source."""
    got: asyncio.Queue[tuple[Datagram, Address]] = asyncio.Queue()
    unregister = listener.register(SERIAL.upper(), lambda d, a: got.put_nowait((d, a)))
    peer = await open_peer()
    peer.send(charger_frame(), listener.local_address)
    async with asyncio.timeout(WAIT):
        datagram, address = await got.get()
    assert datagram.command == Command.HEADING
    assert address == peer.address

    unregister()
    unregister()  # a second call is harmless
    discovered: list[DiscoveredCharger] = []
    listener.subscribe_discovery(discovered.append)
    listener.datagram_received(charger_frame(), peer.address)
    # A heading of an unknown serial is nobody's: neither routed nor discovery.
    assert got.empty()
    assert discovered == []
    assert peer.transport is not None
    peer.transport.close()


async def test_discovery_reports_announcements(listener: ChargerListener) -> None:
    """Unregistered chargers reach discovery subscribers with their info."""
    found: asyncio.Queue[DiscoveredCharger] = asyncio.Queue()
    unsubscribe = listener.subscribe_discovery(found.put_nowait)
    peer = await open_peer()
    peer.send(charger_frame(OTHER, Command.LOGIN_ANNOUNCEMENT), listener.local_address)
    async with asyncio.timeout(WAIT):
        charger = await found.get()
    assert charger == DiscoveredCharger(OTHER, peer.address, INFO)
    unsubscribe()
    unsubscribe()
    assert peer.transport is not None
    peer.transport.close()


async def test_discovery_only_from_what_parses(listener: ChargerListener) -> None:
    """Truncated announcements, keyed frames and other commands discover nothing."""
    found: list[DiscoveredCharger] = []
    listener.subscribe_discovery(found.append)
    source = ("127.0.0.2", 7248)
    for frame in (
        Datagram(OTHER, Command.LOGIN_ANNOUNCEMENT, b"\x01\x02").encode(),
        Datagram(OTHER, Command.LOGIN_ANNOUNCEMENT, INFO.build(), key_type=1).encode(),
        Datagram(OTHER, Command.STATUS, bytes(25)).encode(),
        Datagram(OTHER, Command.LOGIN_RESPONSE, INFO.build()).encode(),
        Datagram(OTHER, Command.PASSWORD_ERROR, b"\x00").encode(),  # no probe sent
    ):
        listener.datagram_received(frame, source)
    assert found == []


async def test_probe_answers_are_discovered_for_a_while(
    listener: ChargerListener, freezer: FrozenDateTimeFactory
) -> None:
    """A PasswordError counts as a charger answering our probe, shortly after it."""
    found: list[DiscoveredCharger] = []
    listener.subscribe_discovery(found.append)
    answer = Datagram(OTHER, Command.PASSWORD_ERROR, b"\x00").encode()
    listener.send_probe([])
    listener.datagram_received(answer, ("127.0.0.2", 7248))
    assert found == [DiscoveredCharger(OTHER, ("127.0.0.2", 7248), None)]
    freezer.tick(PROBE_ANSWER_WINDOW + 1)
    listener.datagram_received(answer, ("127.0.0.3", 7248))
    assert len(found) == 1


async def test_work_per_packet_is_bounded(listener: ChargerListener) -> None:
    """At most 8 datagrams per packet are handled; repeats only once."""
    calls: list[Datagram] = []
    listener.register(SERIAL, lambda d, a: calls.append(d))
    headings = charger_frame() * 2620  # 65,500 bytes, one heading repeated
    listener.datagram_received(headings, ("127.0.0.1", 1))
    assert calls == [Datagram(SERIAL, Command.HEADING)]
    calls.clear()
    distinct = b"".join(
        Datagram(SERIAL, Command.STATUS, bytes([n]) * 25).encode() for n in range(20)
    )
    listener.datagram_received(distinct, ("127.0.0.1", 1))
    assert [d.payload[0] for d in calls] == list(range(MAX_DATAGRAMS_PER_PACKET))


async def test_paced_sends_keep_order_and_spacing(
    listener: ChargerListener, freezer: FrozenDateTimeFactory
) -> None:
    """Paced requests leave one per interval, in order, across chargers."""
    peer = await open_peer()
    for n in range(3):
        listener.send(Datagram(SERIAL, 0x8107, bytes([2, n])), peer.address, paced=True)
    listener.send(Datagram(OTHER, 0x8107, bytes([2, 3])), peer.address, paced=True)
    arrived = []
    async with asyncio.timeout(WAIT):
        arrived.append((await peer.received.get())[22])
        assert listener.paced_backlog == 3  # the clock has not moved
        for _ in range(3):
            freezer.tick(PACE_INTERVAL * 1.5)  # a timer due exactly now waits
            arrived.append((await peer.received.get())[22])
    assert arrived == [0, 1, 2, 3]
    assert listener.paced_backlog == 0
    listener.send(Datagram(SERIAL, 0x8106), peer.address)  # unpaced: at once
    async with asyncio.timeout(WAIT):
        assert (await peer.received.get())[19:21] == b"\x81\x06"
    assert peer.transport is not None
    peer.transport.close()


async def test_receive_buffer_is_grown(listener: ChargerListener) -> None:
    """Many answers at once must fit: the buffer is well above Linux's default."""
    assert listener.receive_buffer >= 425_984


async def test_probe_bytes(listener: ChargerListener) -> None:
    """The probe is the zero-serial, zero-password RequestLogin of §1.2."""
    peer = await open_peer()
    listener.send_probe([peer.address])
    async with asyncio.timeout(WAIT):
        data = await peer.received.get()
    assert data.hex() == "06010019000000000000000000000000000000800200a20f02"
    assert peer.transport is not None
    peer.transport.close()


async def test_bind_is_exclusive(listener: ChargerListener) -> None:
    """Another program cannot share the port, even asking for address reuse."""
    port = listener.local_address[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with pytest.raises(OSError, match="in use"):
            other.bind(("127.0.0.1", port))
    with pytest.raises(PortInUseError):
        await ChargerListener("127.0.0.1", port).start()


async def test_port_in_use() -> None:
    """A port held by someone else gives a typed error."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        listener = ChargerListener("127.0.0.1", port)
        with pytest.raises(PortInUseError) as err:
            await listener.start()
        assert err.value.port == port
        assert not listener.is_open


async def test_other_bind_errors_propagate() -> None:
    """Errors other than a taken port are not disguised."""
    listener = ChargerListener("192.0.2.1", 0)  # not an address of this host
    with pytest.raises(OSError, match="assign"):
        await listener.start()


async def test_handler_errors_are_contained(
    listener: ChargerListener, caplog: pytest.LogCaptureFixture
) -> None:
    """A failing handler is logged; later datagrams are still delivered."""
    calls: list[Datagram] = []

    def broken(datagram: Datagram, address: Address) -> None:
        calls.append(datagram)
        raise RuntimeError("boom")

    listener.register(SERIAL, broken)
    packet = charger_frame() + charger_frame(command=Command.STATUS)
    with caplog.at_level(logging.ERROR):
        listener.datagram_received(packet, ("127.0.0.1", 1))
    assert len(calls) == 2
    assert "Error handling datagram" in caplog.text


async def test_send_after_close_is_dropped(listener: ChargerListener) -> None:
    """Sending on a closed listener does nothing instead of raising."""
    listener.close()
    listener.send(Datagram(SERIAL, Command.HEADING_RESPONSE), ("127.0.0.1", 9))
    with pytest.raises(RuntimeError):
        _ = listener.local_address
    listener.error_received(OSError("ICMP unreachable"))


async def test_debug_log_masks_password(
    listener: ChargerListener, caplog: pytest.LogCaptureFixture
) -> None:
    """Debug logging shows datagrams with the password masked."""
    peer = await open_peer()
    with caplog.at_level(logging.DEBUG, "custom_components.evse_master.protocol"):
        frame = Datagram(SERIAL, 0x8002, b"", password_field("654321"))
        listener.send(frame, peer.address)
        listener.datagram_received(charger_frame(), peer.address)
        async with asyncio.timeout(WAIT):
            await peer.received.get()
    assert "** ** ** ** ** **" in caplog.text
    assert "36 35 34 33 32 31" not in caplog.text
    assert "ff ff ff ff ff ff" in caplog.text
    assert peer.transport is not None
    peer.transport.close()


async def test_shared_listener_reference_counting() -> None:
    """The socket opens with the first user and closes with the last."""
    port = free_udp_port()
    shared = SharedListener("127.0.0.1", port)
    assert shared.users == 0
    first = await shared.acquire()
    second = await shared.acquire()
    assert first is second is shared.listener
    assert first.is_open
    assert shared.users == 2
    shared.release()
    assert first.is_open
    shared.release()
    assert not first.is_open
    shared.release()  # extra releases are harmless
    assert shared.users == 0
    with pytest.raises(RuntimeError):
        shared.hold()  # only an open listener can be held without awaiting
    await shared.acquire()
    shared.hold()
    assert shared.users == 2
    shared.close()
    assert not shared.listener.is_open
    assert shared.users == 0


@settings(max_examples=300, deadline=None)
@given(
    packet=st.one_of(
        st.binary(max_size=600),
        st.lists(
            st.sampled_from(
                [
                    charger_frame(),
                    charger_frame(OTHER, Command.LOGIN_ANNOUNCEMENT),
                    charger_frame(command=Command.STATUS),
                    Datagram(SERIAL, 0x0004, b"\x01" * 25).encode(),
                    Datagram(SERIAL, 0x7777, b"\x00" * 3).encode(),
                ]
            ),
            max_size=4,
        ).map(b"".join),
    ),
    cut=st.integers(min_value=0, max_value=600),
    flip=st.integers(min_value=0, max_value=600),
)
def test_any_packet_never_raises(packet: bytes, cut: int, flip: int) -> None:
    """Truncated, corrupted, oversized or random packets never escape."""
    listener = ChargerListener("127.0.0.1", 0)
    seen: list[Datagram] = []
    listener.register(SERIAL, lambda d, a: seen.append(d))
    listener.subscribe_discovery(lambda found: None)
    mutated = bytearray(packet[: max(cut, 1)] if packet else b"")
    if mutated:
        mutated[flip % len(mutated)] ^= 0x5A
    for data in (packet, bytes(mutated), packet * 20):
        listener.datagram_received(data, ("127.0.0.1", 7248))
    assert all(d.serial == SERIAL for d in seen)


def test_heading_frame_matches_spec() -> None:
    """Our test charger frame is the captured heading (V2)."""
    assert charger_frame().hex() == "06010019009181102751219513ffffffffffff000308800f02"
    assert Heading.parse(b"").build() == b""
