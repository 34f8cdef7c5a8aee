"""Tests of the shared UDP listener over real loopback sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import logging
import socket

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.evse_master.protocol.enums import Command
from custom_components.evse_master.protocol.errors import PortInUseError
from custom_components.evse_master.protocol.frame import (
    CHARGER_PASSWORD_FIELD,
    Datagram,
    password_field,
)
from custom_components.evse_master.protocol.listener import (
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


async def test_routes_by_serial_and_learns_address(listener: ChargerListener) -> None:
    """Datagrams reach the handler of their serial; the source is learned."""
    got: asyncio.Queue[tuple[Datagram, Address]] = asyncio.Queue()
    unregister = listener.register(SERIAL, lambda d, a: got.put_nowait((d, a)))
    peer = await open_peer()
    peer.send(charger_frame(), listener.local_address)
    async with asyncio.timeout(WAIT):
        datagram, address = await got.get()
    assert datagram.command == Command.HEADING
    assert address == peer.address
    assert listener.address_of(SERIAL) == peer.address

    unregister()
    unregister()  # a second call is harmless
    discovered: asyncio.Queue[DiscoveredCharger] = asyncio.Queue()
    listener.subscribe_discovery(discovered.put_nowait)
    peer.send(charger_frame(), listener.local_address)
    async with asyncio.timeout(WAIT):
        found = await discovered.get()
    assert found.serial == SERIAL
    assert found.info is None
    assert got.empty()
    assert peer.transport is not None
    peer.transport.close()


async def test_client_echo_does_not_move_address(listener: ChargerListener) -> None:
    """A phone app's frame (password set, client command) is not the charger."""
    got: asyncio.Queue[Datagram] = asyncio.Queue()
    listener.register(SERIAL, lambda d, a: got.put_nowait(d))
    charger, phone = await open_peer(), await open_peer()
    charger.send(charger_frame(), listener.local_address)
    echo = Datagram(SERIAL, Command.HEADING_RESPONSE, b"\x00", password_field("123456"))
    phone.send(echo.encode(), listener.local_address)
    async with asyncio.timeout(WAIT):
        await got.get()
        await got.get()
    assert listener.address_of(SERIAL) == charger.address
    for peer in (charger, phone):
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


async def test_bad_announcement_payload_still_discovered(
    listener: ChargerListener,
) -> None:
    """A truncated announcement reports the charger without info."""
    found: list[DiscoveredCharger] = []
    listener.subscribe_discovery(found.append)
    frame = Datagram(OTHER, Command.LOGIN_ANNOUNCEMENT, b"\x01\x02").encode()
    listener.datagram_received(frame, ("127.0.0.1", 7248))
    assert found == [DiscoveredCharger(OTHER, ("127.0.0.1", 7248), None)]


async def test_probe_bytes(listener: ChargerListener) -> None:
    """The probe is the zero-serial, zero-password RequestLogin of §1.2."""
    peer = await open_peer()
    listener.send_probe([peer.address])
    async with asyncio.timeout(WAIT):
        data = await peer.received.get()
    assert data.hex() == "06010019000000000000000000000000000000800200a20f02"
    assert peer.transport is not None
    peer.transport.close()


async def test_port_in_use() -> None:
    """A port held without address reuse gives a typed error."""
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
    packet = charger_frame() + charger_frame()
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
    await shared.acquire()
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
