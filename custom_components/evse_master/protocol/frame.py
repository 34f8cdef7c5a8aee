"""Datagram framing (protocol.md §2).

Layout: ``06 01 | len u16 | key u8 | serial[8] | password[6] | cmd u16 |
payload | checksum u16 | 0F 02``; all integers big-endian.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
import logging
import struct

HEADER: bytes = b"\x06\x01"
TAIL: bytes = b"\x0f\x02"
OVERHEAD = 25
"""Bytes of a datagram that are not payload."""
MAX_DATAGRAM = 0xFFFF
MAX_DATAGRAMS_PER_PACKET = 8
"""Datagrams handled per UDP packet; real chargers send one, rarely two (§2.5)."""

PAYLOAD_OFFSET = 21
SERIAL_LENGTH = 8
PASSWORD_LENGTH = 6
PASSWORD_OFFSET = 13

CHARGER_PASSWORD_FIELD: bytes = b"\xff" * PASSWORD_LENGTH
"""What real chargers put in the password field (other implementations differ)."""
CLIENT_COMMAND_BASE = 0x8000
"""Client->charger command ids are at or above this (§4)."""
NO_PASSWORD: bytes = b"\x00" * PASSWORD_LENGTH
PROBE_SERIAL = "0" * (2 * SERIAL_LENGTH)

_LOGGER = logging.getLogger(__name__)

_PREFIX = struct.Struct(">2sHB8s6sH")
_HEX_DIGITS = frozenset("0123456789abcdef")


class FrameError(ValueError):
    """A byte sequence is not a valid datagram."""


def checksum(data: bytes) -> int:
    """Checksum to send for the bytes before the checksum field (sum mod 2**16)."""
    return sum(data) & 0xFFFF


def _checksum_matches(data: bytes | memoryview, stored: int) -> bool:
    # Chargers and the app reduce mod 65536, most libraries mod 65535; accept both.
    total = sum(data)
    return stored in (total & 0xFFFF, total % 0xFFFF)


_SERIAL_SEPARATORS = str.maketrans("", "", " -\t\r\n")


def normalize_serial(serial: str) -> str:
    """Return a serial as 16 lowercase hex characters, or raise ValueError.

    Labels print it in groups ("9181 1027 5121 9513", "9181-1027-..."), so
    spaces and dashes are dropped. This is the one place serials are compared
    in: everything that registers, looks up or matches a serial uses it.
    """
    cleaned = serial.translate(_SERIAL_SEPARATORS).lower()
    if len(cleaned) != 2 * SERIAL_LENGTH or not set(cleaned) <= _HEX_DIGITS:
        raise ValueError("serial must be 16 hexadecimal characters")
    return cleaned


def password_field(password: str | None) -> bytes:
    """Encode a charger password for the header (6 ASCII bytes).

    The error never contains the password (it ends up in logs and UIs).
    """
    if not password:
        return NO_PASSWORD
    if len(password) != PASSWORD_LENGTH or not password.isascii():
        raise ValueError("password must be 6 ASCII characters")
    return password.encode("ascii")


@dataclass(frozen=True, slots=True)
class Datagram:
    """One framed protocol message."""

    serial: str
    """16 lowercase hex characters."""
    command: int
    payload: bytes = b""
    password: bytes = CHARGER_PASSWORD_FIELD
    key_type: int = 0

    @property
    def from_charger(self) -> bool:
        """Whether the command id is one chargers send (§4: below 0x8000).

        The password field does not decide it: real units send FF x 6, other
        implementations zeros or their password.
        """
        return self.command < CLIENT_COMMAND_BASE

    def encode(self) -> bytes:
        """Return the datagram's bytes."""
        length = OVERHEAD + len(self.payload)
        if length > MAX_DATAGRAM:
            raise FrameError("payload too long")
        body = (
            _PREFIX.pack(
                HEADER,
                length,
                self.key_type,
                bytes.fromhex(self.serial),
                self.password,
                self.command,
            )
            + self.payload
        )
        return body + checksum(body).to_bytes(2, "big") + TAIL


def decode_datagram(data: bytes) -> Datagram:
    """Decode exactly one datagram occupying all of ``data``."""
    datagrams, rest, errors = _split(data, stop_on_error=True)
    if errors:
        raise FrameError(errors[0])
    if rest or len(datagrams) != 1:
        raise FrameError("trailing bytes after datagram")
    return datagrams[0]


def split_packet(
    data: bytes, limit: int = MAX_DATAGRAMS_PER_PACKET
) -> Iterator[Datagram]:
    """Yield the valid datagrams of a UDP packet, at most ``limit``; log the rest.

    The limit bounds the work (and the replies) one packet can cause.
    """
    datagrams, rest, errors = _split(bytes(data), stop_on_error=False, limit=limit)
    if errors or rest:
        for error in errors:
            _LOGGER.debug("Dropping malformed bytes: %s", error)
        if rest:
            _LOGGER.debug("Dropping %d trailing bytes", len(rest))
    yield from datagrams


def _split(
    data: bytes, *, stop_on_error: bool, limit: int | None = None
) -> tuple[list[Datagram], bytes, list[str]]:
    datagrams: list[Datagram] = []
    errors: list[str] = []
    size = len(data)
    offset = 0
    while size - offset >= OVERHEAD:
        if limit is not None and len(datagrams) >= limit:
            errors.append(f"more than {limit} datagrams in one packet")
            break
        if data[offset] != HEADER[0] or data[offset + 1] != HEADER[1]:
            errors.append(f"bad header at offset {offset}")
            break
        length = (data[offset + 2] << 8) | data[offset + 3]
        if length < OVERHEAD or offset + length > size:
            errors.append(f"bad length {length} at offset {offset}")
            break
        end = offset + length
        body_end = end - 4
        if data[end - 2] != TAIL[0] or data[end - 1] != TAIL[1]:
            errors.append(f"bad tail at offset {offset}")
        elif not _checksum_matches(
            data[offset:body_end], (data[body_end] << 8) | data[body_end + 1]
        ):
            errors.append(f"bad checksum at offset {offset}")
        else:
            _, _, key_type, serial, password, command = _PREFIX.unpack_from(
                data, offset
            )
            datagrams.append(
                Datagram(
                    serial=serial.hex(),
                    command=command,
                    payload=data[offset + PAYLOAD_OFFSET : body_end],
                    password=password,
                    key_type=key_type,
                )
            )
        if errors and stop_on_error:
            break
        offset = end
    if 0 < size - offset < OVERHEAD and not errors:
        errors.append(f"{size - offset} bytes too short for a datagram")
    return datagrams, data[offset:] if offset < size else b"", errors


SECRET_PAYLOAD_COMMANDS = frozenset({0x010A, 0x810A, 0x0109, 0x8109, 0x8102, 0x0102})
"""Commands whose payload may carry a Wi-Fi passphrase or password."""

_UNSECRET_PASSWORD_FIELDS = frozenset({CHARGER_PASSWORD_FIELD, NO_PASSWORD})
_COMMAND_OFFSET = 19
_MASK = "**"


def redact_for_log(packet: bytes) -> str:
    """Hex dump of a packet with passwords, their checksums and secrets as ``**``.

    Every ``06 01`` outside a valid datagram is treated as a possible datagram
    start, so a secret never shows because the bytes around it did not parse.
    A password field that is neither FF x 6 nor zeros is masked, and so is
    the checksum after it: a byte sum reveals a 6-digit password almost as
    well as the digits do. Secret payloads are
    masked by command id up to the datagram's end (or the packet's), with
    their checksum.
    """
    tokens = [f"{byte:02x}" for byte in packet]
    size = len(packet)
    offset = packet.find(HEADER)
    while 0 <= offset < size:
        length = int.from_bytes(packet[offset + 2 : offset + 4], "big")
        complete = OVERHEAD <= length <= size - offset
        end = offset + length if complete else size
        # Only a datagram that checks out is skipped as a whole; inside
        # anything else, every later header is looked at too.
        valid = complete and _is_valid(packet, offset, end)
        start = offset + PASSWORD_OFFSET
        password = packet[start : start + PASSWORD_LENGTH]
        if password and not any(
            field.startswith(password) for field in _UNSECRET_PASSWORD_FIELDS
        ):
            tokens[start : start + len(password)] = [_MASK] * len(password)
            if complete:
                tokens[end - 4 : end - 2] = [_MASK, _MASK]
        command = int.from_bytes(
            packet[offset + _COMMAND_OFFSET : offset + PAYLOAD_OFFSET], "big"
        )
        payload_start = offset + PAYLOAD_OFFSET
        payload_end = end - 4 if complete else size
        if command in SECRET_PAYLOAD_COMMANDS and payload_end > payload_start:
            tokens[payload_start:payload_end] = [_MASK] * (payload_end - payload_start)
            if complete:
                tokens[end - 4 : end - 2] = [_MASK, _MASK]
        offset = packet.find(HEADER, end if valid else offset + 1)
    return " ".join(tokens)


def _is_valid(packet: bytes, start: int, end: int) -> bool:
    return packet[end - 2 : end] == TAIL and _checksum_matches(
        packet[start : end - 4], int.from_bytes(packet[end - 4 : end - 2], "big")
    )
