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

PAYLOAD_OFFSET = 21
SERIAL_LENGTH = 8
PASSWORD_LENGTH = 6
PASSWORD_OFFSET = 13

CHARGER_PASSWORD_FIELD: bytes = b"\xff" * PASSWORD_LENGTH
"""What chargers put in the password field of every datagram they send."""
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


def normalize_serial(serial: str) -> str:
    """Return a serial as 16 lowercase hex characters, or raise ValueError."""
    cleaned = serial.strip().lower()
    # Not bytes.fromhex alone: it skips whitespace, so "9181 1027 512195" would pass.
    if len(cleaned) != 2 * SERIAL_LENGTH or not set(cleaned) <= _HEX_DIGITS:
        raise ValueError("serial must be 16 hexadecimal characters")
    return cleaned


def password_field(password: str | None) -> bytes:
    """Encode a charger password for the header (6 ASCII bytes)."""
    if not password:
        return NO_PASSWORD
    raw = password.encode("ascii")
    if len(raw) != PASSWORD_LENGTH:
        raise ValueError("password must be 6 ASCII characters")
    return raw


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
        """Whether this looks like a frame a charger sent (not a client echo)."""
        return self.command < 0x8000 and self.password == CHARGER_PASSWORD_FIELD

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


def split_packet(data: bytes) -> Iterator[Datagram]:
    """Yield every valid datagram in a UDP packet; log and skip the rest."""
    datagrams, rest, errors = _split(bytes(data), stop_on_error=False)
    if errors or rest:
        for error in errors:
            _LOGGER.debug("Dropping malformed bytes: %s", error)
        if rest:
            _LOGGER.debug("Dropping %d trailing bytes", len(rest))
    yield from datagrams


def _split(
    data: bytes, *, stop_on_error: bool
) -> tuple[list[Datagram], bytes, list[str]]:
    datagrams: list[Datagram] = []
    errors: list[str] = []
    size = len(data)
    offset = 0
    while size - offset >= OVERHEAD:
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


def redact_for_log(packet: bytes) -> str:
    """Hex dump of a packet with client passwords and secret payloads as ``**``."""
    tokens = [f"{byte:02x}" for byte in packet]
    offset = 0
    while packet[offset : offset + 2] == HEADER:
        length = int.from_bytes(packet[offset + 2 : offset + 4], "big")
        # A truncated datagram or bad length still gets redacted, up to the end.
        complete = OVERHEAD <= length <= len(packet) - offset
        payload_end = offset + length - 4 if complete else len(packet)
        start = offset + PASSWORD_OFFSET
        password = packet[start : start + PASSWORD_LENGTH]
        if password.strip(b"\xff"):  # chargers send six FF bytes
            tokens[start : start + len(password)] = ["**"] * len(password)
        command = int.from_bytes(packet[offset + 19 : offset + 21], "big")
        payload_start = offset + PAYLOAD_OFFSET
        if command in SECRET_PAYLOAD_COMMANDS and payload_end > payload_start:
            tokens[payload_start:payload_end] = ["**"] * (payload_end - payload_start)
        if not complete:
            break
        offset += length
    return " ".join(tokens)
