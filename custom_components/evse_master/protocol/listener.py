"""The one UDP endpoint on port 28376, shared by every charger (protocol.md §1).

Chargers always send to the client port, so a process can only have one
endpoint: it routes datagrams by serial to the charger clients and tells
discovery subscribers about chargers nobody registered. It decides nothing
about trust (:mod:`trust` does, per charger) and bounds the work a packet can
cause: at most :data:`frame.MAX_DATAGRAMS_PER_PACKET` datagrams, each distinct
one handled once.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
import errno
import logging
import socket
import time

from . import const
from .enums import Command
from .errors import PortInUseError
from .frame import (
    NO_PASSWORD,
    PROBE_SERIAL,
    Datagram,
    normalize_serial,
    redact_for_log,
    split_packet,
)
from .messages import DeviceInfo, PayloadError, RequestLogin

_LOGGER = logging.getLogger(__name__)

type Address = tuple[str, int]
type DatagramHandler = Callable[[Datagram, Address], None]

RECEIVE_BUFFER: int = 4 * 1024 * 1024
"""Bytes asked for: answers of many chargers logging in at once must fit."""
PACE_INTERVAL: float = 0.002
"""Seconds between two paced requests (bulk reads), across all chargers."""
PROBE_ANSWER_WINDOW: float = 10.0
"""Seconds after a probe during which PasswordErrors count as answers to it."""


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
        self._paced: deque[tuple[bytes, Address]] = deque()
        self._pacer: asyncio.TimerHandle | None = None
        self._probe_until = 0.0
        self._closing: asyncio.Future[None] | None = None
        self.receive_buffer = 0
        """What the kernel granted, in bytes (0 until bound)."""

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
        """Bind the socket; raises :class:`PortInUseError` if it is taken.

        The bind is exclusive (no SO_REUSEADDR): a second program on the port
        would get only some of the unicast replies, so it must fail to bind
        instead of silently sharing.
        """
        if self._transport is not None:
            return
        if self._closing is not None:
            # The previous socket closes on the next loop iteration; only
            # then is the port free for an exclusive bind.
            await self._closing
        host = const.LISTEN_HOST if self._host is None else self._host
        port = const.LISTEN_PORT if self._port is None else self._port
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            self.receive_buffer = _grow_receive_buffer(sock)
            sock.bind((host, port))
        except OSError as err:
            sock.close()
            if err.errno == errno.EADDRINUSE:
                raise PortInUseError(port) from err
            raise
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, sock=sock)
        _LOGGER.debug(
            "Listening on %s:%d (receive buffer %d bytes)",
            *self.local_address,
            self.receive_buffer,
        )

    def close(self) -> None:
        """Close the socket; registrations are kept for a later start."""
        if self._pacer is not None:
            self._pacer.cancel()
            self._pacer = None
        self._paced.clear()
        if self._transport is not None:
            self._closing = asyncio.get_running_loop().create_future()
            self._transport.close()
            self._transport = None

    @property
    def paced_backlog(self) -> int:
        """Paced datagrams not sent yet."""
        return len(self._paced)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport (asyncio callback)."""
        assert isinstance(transport, asyncio.DatagramTransport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the transport (asyncio callback)."""
        self._transport = None
        if self._closing is not None:
            if not self._closing.done():
                self._closing.set_result(None)
            self._closing = None

    def error_received(self, exc: Exception) -> None:
        """Log ICMP errors; they must not end the endpoint (asyncio callback)."""
        _LOGGER.debug("UDP error: %s", exc)

    def register(self, serial: str, handler: DatagramHandler) -> Callable[[], None]:
        """Route datagrams of ``serial`` (any spelling) to ``handler``."""
        key = normalize_serial(serial)
        handlers = self._handlers.setdefault(key, [])
        handlers.append(handler)

        def unregister() -> None:
            if handler in handlers:
                handlers.remove(handler)
            if not handlers and self._handlers.get(key) is handlers:
                del self._handlers[key]

        return unregister

    def subscribe_discovery(self, callback: DiscoveryCallback) -> Callable[[], None]:
        """Call ``callback`` for chargers whose serial nobody registered."""
        self._discovery.append(callback)

        def unsubscribe() -> None:
            if callback in self._discovery:
                self._discovery.remove(callback)

        return unsubscribe

    # --- sending --------------------------------------------------------------------

    def send(
        self, datagram: Datagram, address: Address, *, paced: bool = False
    ) -> None:
        """Send one datagram; silently dropped when the socket is closed.

        ``paced`` requests queue behind each other across all chargers, so the
        answers of many chargers never arrive in one burst.
        """
        data = datagram.encode()
        if paced:
            self._paced.append((data, address))
            if self._pacer is None and self._transport is not None:
                self._pace()
            return
        self.send_bytes(data, address)

    def _pace(self) -> None:
        self._pacer = None
        if not self._paced or self._transport is None:
            return
        self.send_bytes(*self._paced.popleft())
        # Busy for one interval even when nothing waits: that is the spacing.
        loop = asyncio.get_running_loop()
        self._pacer = loop.call_later(PACE_INTERVAL, self._pace)

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
        self._probe_until = time.monotonic() + PROBE_ANSWER_WINDOW
        for target in targets:
            self.send(probe, target)

    # --- receiving ------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        """Route the datagrams of a packet (asyncio callback); never raises."""
        address: Address = (str(addr[0]), int(str(addr[1])))
        if _LOGGER.isEnabledFor(logging.DEBUG):
            _LOGGER.debug("<- %s:%d %s", *address, redact_for_log(data))
        previous: Datagram | None = None
        seen: set[Datagram] | None = None
        for datagram in split_packet(data):
            # A packet repeating one datagram gets one answer, not one each.
            if previous is not None:
                if seen is None:
                    seen = {previous}
                if datagram in seen:
                    continue
                seen.add(datagram)
            previous = datagram
            try:
                self._route(datagram, address)
            except Exception:
                _LOGGER.exception("Error handling datagram from %s", address)

    def _route(self, datagram: Datagram, address: Address) -> None:
        handlers = self._handlers.get(datagram.serial)
        if handlers:
            for handler in tuple(handlers):
                handler(datagram, address)
        elif self._discovery and not datagram.key_type:
            self._report(datagram, address)

    def _report(self, datagram: Datagram, address: Address) -> None:
        """Discovery: announcements that parse, and answers to our probe."""
        info: DeviceInfo | None = None
        command = datagram.command
        if command == Command.LOGIN_ANNOUNCEMENT:
            try:
                info = DeviceInfo.parse(datagram.payload)
            except PayloadError:
                _LOGGER.debug("Bad announcement payload from %s", address)
                return
        elif command != Command.PASSWORD_ERROR or time.monotonic() > self._probe_until:
            return
        found = DiscoveredCharger(datagram.serial, address, info)
        for callback in tuple(self._discovery):
            callback(found)


def _grow_receive_buffer(sock: socket.socket) -> int:
    """Ask for :data:`RECEIVE_BUFFER`; privileged processes may exceed rmem_max."""
    for option in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
        if option is None:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, RECEIVE_BUFFER)
        except OSError:
            continue
        break
    granted: int = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    return granted


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

    def hold(self) -> None:
        """One more user of the already open listener (no await needed)."""
        if not self.listener.is_open:
            raise RuntimeError("listener is not open")
        self._users += 1

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
