"""The one UDP endpoint on port 28376, shared by every charger (protocol.md §1).

Chargers always send to the client port, so a process can only have one
endpoint: it routes datagrams by serial, learns each charger's address from
genuine charger frames, and tells discovery subscribers about the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
import errno
import logging
import socket

from . import const
from .enums import Command
from .errors import PortInUseError
from .frame import (
    NO_PASSWORD,
    PROBE_SERIAL,
    Datagram,
    redact_for_log,
    split_packet,
)
from .messages import DeviceInfo, PayloadError, RequestLogin

_LOGGER = logging.getLogger(__name__)

type Address = tuple[str, int]
type DatagramHandler = Callable[[Datagram, Address], None]


@dataclass(frozen=True, slots=True)
class DiscoveredCharger:
    """A charger heard on the network that no registered client owns."""

    serial: str
    address: Address
    info: DeviceInfo | None
    """Present when the datagram was a login announcement."""


type DiscoveryCallback = Callable[[DiscoveredCharger], None]


class ChargerListener(asyncio.DatagramProtocol):
    """UDP endpoint that routes charger datagrams by serial."""

    def __init__(self, host: str | None = None, port: int | None = None) -> None:
        """Prepare an endpoint; defaults are :data:`const.LISTEN_HOST`/``PORT``."""
        self._host = host
        self._port = port
        self._transport: asyncio.DatagramTransport | None = None
        self._handlers: dict[str, list[DatagramHandler]] = {}
        self._discovery: list[DiscoveryCallback] = []
        self._addresses: dict[str, Address] = {}

    @property
    def is_open(self) -> bool:
        """Whether the socket is bound."""
        return self._transport is not None

    @property
    def local_address(self) -> Address:
        """Address the socket is bound to."""
        if self._transport is None:
            raise RuntimeError("listener is not open")
        host, port = self._transport.get_extra_info("sockname")[:2]
        return host, port

    async def start(self) -> None:
        """Bind the socket; raises :class:`PortInUseError` if it is taken."""
        if self._transport is not None:
            return
        host = const.LISTEN_HOST if self._host is None else self._host
        port = const.LISTEN_PORT if self._port is None else self._port
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.bind((host, port))
        except OSError as err:
            sock.close()
            if err.errno == errno.EADDRINUSE:
                raise PortInUseError(port) from err
            raise
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, sock=sock)
        _LOGGER.debug("Listening on %s:%d", *self.local_address)

    def close(self) -> None:
        """Close the socket; registrations are kept for a later start."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport (asyncio callback)."""
        assert isinstance(transport, asyncio.DatagramTransport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the transport (asyncio callback)."""
        self._transport = None

    def error_received(self, exc: Exception) -> None:
        """Log ICMP errors; they must not end the endpoint (asyncio callback)."""
        _LOGGER.debug("UDP error: %s", exc)

    def register(self, serial: str, handler: DatagramHandler) -> Callable[[], None]:
        """Route datagrams of ``serial`` to ``handler``; returns the unregister."""
        handlers = self._handlers.setdefault(serial, [])
        handlers.append(handler)

        def unregister() -> None:
            if handler in handlers:
                handlers.remove(handler)
            if not handlers and self._handlers.get(serial) is handlers:
                del self._handlers[serial]

        return unregister

    def subscribe_discovery(self, callback: DiscoveryCallback) -> Callable[[], None]:
        """Call ``callback`` for chargers whose serial nobody registered."""
        self._discovery.append(callback)

        def unsubscribe() -> None:
            if callback in self._discovery:
                self._discovery.remove(callback)

        return unsubscribe

    def address_of(self, serial: str) -> Address | None:
        """Last address a genuine frame of ``serial`` came from."""
        return self._addresses.get(serial)

    def remember_address(self, serial: str, address: Address) -> None:
        """Seed a charger's address (e.g. stored from an earlier run)."""
        self._addresses.setdefault(serial, address)

    def send(self, datagram: Datagram, address: Address) -> None:
        """Send one datagram; silently dropped when the socket is closed."""
        self.send_bytes(datagram.encode(), address)

    def send_bytes(self, data: bytes, address: Address) -> None:
        """Send encoded datagrams; silently dropped when the socket is closed."""
        if self._transport is None:
            _LOGGER.debug("Not sending to %s: listener closed", address)
            return
        if _LOGGER.isEnabledFor(logging.DEBUG):
            _LOGGER.debug("-> %s:%d %s", *address, redact_for_log(data))
        self._transport.sendto(data, address)

    def send_probe(self, targets: Iterable[Address]) -> None:
        """Ask chargers to reveal themselves (zero serial, no password, §1.2)."""
        probe = Datagram(
            serial=PROBE_SERIAL,
            command=Command.REQUEST_LOGIN,
            payload=RequestLogin().build(),
            password=NO_PASSWORD,
        )
        for target in targets:
            self.send(probe, target)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        """Route every datagram of a packet (asyncio callback); never raises."""
        address: Address = (str(addr[0]), int(str(addr[1])))
        if _LOGGER.isEnabledFor(logging.DEBUG):
            _LOGGER.debug("<- %s:%d %s", *address, redact_for_log(data))
        for datagram in split_packet(data):
            try:
                self._route(datagram, address)
            except Exception:
                _LOGGER.exception("Error handling datagram from %s", address)

    def _route(self, datagram: Datagram, address: Address) -> None:
        serial = datagram.serial
        if datagram.from_charger:
            self._addresses[serial] = address
        handlers = self._handlers.get(serial)
        if handlers:
            for handler in tuple(handlers):
                handler(datagram, address)
        elif datagram.from_charger and self._discovery:
            self._report(datagram, address)

    def _report(self, datagram: Datagram, address: Address) -> None:
        info: DeviceInfo | None = None
        if datagram.command in (Command.LOGIN_ANNOUNCEMENT, Command.LOGIN_RESPONSE):
            try:
                info = DeviceInfo.parse(datagram.payload)
            except PayloadError:
                _LOGGER.debug("Bad announcement payload from %s", address)
        found = DiscoveredCharger(datagram.serial, address, info)
        for callback in tuple(self._discovery):
            callback(found)


class SharedListener:
    """Reference-counted owner of one :class:`ChargerListener`.

    Opened by the first :meth:`acquire`, closed by the last :meth:`release`.
    """

    def __init__(self, host: str | None = None, port: int | None = None) -> None:
        """Prepare; nothing is bound until the first acquire."""
        self.listener = ChargerListener(host, port)
        self._users = 0
        self._lock = asyncio.Lock()

    @property
    def users(self) -> int:
        """How many acquires are not yet released."""
        return self._users

    async def acquire(self) -> ChargerListener:
        """Return the open listener, binding it if this is the first user."""
        async with self._lock:
            if not self.listener.is_open:
                await self.listener.start()
            self._users += 1
            return self.listener

    def release(self) -> None:
        """Drop one user; the socket closes with the last one."""
        if self._users == 0:
            return
        self._users -= 1
        if self._users == 0:
            self.listener.close()

    def close(self) -> None:
        """Close the socket regardless of users (process shutdown)."""
        self._users = 0
        self.listener.close()
