"""Tests of the datagram framing layer (protocol.md §2, §9)."""

from __future__ import annotations

from itertools import accumulate

from hypothesis import given, strategies as st
import pytest

from custom_components.evse_master.protocol import frame
from custom_components.evse_master.protocol.frame import Datagram, FrameError

SERIAL = "9181102751219513"
PASSWORD = frame.password_field("123456")

V1 = bytes.fromhex(
    "06010032009181102751219513ffffffffffff000401092e0000000000000002408158"
    "9258920102020d000000000b7b0f02"
)
V2 = bytes.fromhex("06010019009181102751219513ffffffffffff000308800f02")
V3 = bytes.fromhex("0601001b009181102751219513ffffffffffff0112020108950f02")
V7 = bytes.fromhex("0601001e009181102751219513ffffffffffff01010162505cdc0a6f0f02")
V10 = bytes.fromhex(
    "060100480091811027512195133132333435368008013836303037393739383537383932"
    "343300000000000000000000000000000000000000000000000000000000000007cc0f02"
)

CAPTURED_FRAMES: list[tuple[str, bytes, str, int, bytes, int]] = [
    # id, datagram, serial, command, password, stored checksum
    ("V1", V1, SERIAL, 0x0004, frame.CHARGER_PASSWORD_FIELD, 0x0B7B),
    ("V2", V2, SERIAL, 0x0003, frame.CHARGER_PASSWORD_FIELD, 0x0880),
    ("V3", V3, SERIAL, 0x0112, frame.CHARGER_PASSWORD_FIELD, 0x0895),
    ("V7", V7, SERIAL, 0x0101, frame.CHARGER_PASSWORD_FIELD, 0x0A6F),
    ("V10", V10, SERIAL, 0x8008, PASSWORD, 0x07CC),
    (
        "V15",
        bytes.fromhex("0601001a008368555670377598ffffffffffff01550009bb0f02"),
        "8368555670377598",
        0x0155,
        frame.CHARGER_PASSWORD_FIELD,
        0x09BB,
    ),
    (
        "V17",
        bytes.fromhex("0601001a0039ff221053cb1f0032323132373880010104800f02"),
        "39ff221053cb1f00",
        0x8001,
        b"221278",
        0x0480,
    ),
    (
        "V18",
        bytes.fromhex("0601001b0039ff221053cb1f003232313237388112020004940f02"),
        "39ff221053cb1f00",
        0x8112,
        b"221278",
        0x0494,
    ),
]


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the project-wide fixture: pure protocol tests need no hass."""


def _frame(
    command: int,
    payload: bytes = b"",
    *,
    serial: str = SERIAL,
    password: bytes = PASSWORD,
) -> bytes:
    return Datagram(serial, command, payload, password).encode()


def _with_checksum(datagram: bytes, stored: int) -> bytes:
    return datagram[:-4] + stored.to_bytes(2, "big") + datagram[-2:]


# --- captured vectors ---------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "serial", "command", "password", "stored"),
    [pytest.param(*case[1:], id=case[0]) for case in CAPTURED_FRAMES],
)
def test_captured_framing(
    raw: bytes, serial: str, command: int, password: bytes, stored: int
) -> None:
    datagram = frame.decode_datagram(raw)
    assert datagram.serial == serial
    assert datagram.command == command
    assert datagram.password == password
    assert datagram.key_type == 0
    assert len(datagram.payload) == len(raw) - frame.OVERHEAD
    assert int.from_bytes(raw[2:4], "big") == len(raw)
    assert frame.checksum(raw[:-4]) == stored
    assert sum(raw[:-4]) % 0xFFFF == stored  # both reductions agree here
    assert datagram.encode() == raw
    assert list(frame.split_packet(raw)) == [datagram]


def test_from_charger() -> None:
    """The command id's direction decides (§4), not the password field."""
    assert frame.decode_datagram(V1).from_charger
    assert not frame.decode_datagram(V10).from_charger  # client command id
    assert not Datagram(SERIAL, 0x8004, b"\x01").from_charger
    # Other implementations put zeros or their own password into their frames.
    assert Datagram(SERIAL, 0x0004, password=PASSWORD).from_charger
    assert Datagram(SERIAL, 0x0004, password=frame.NO_PASSWORD).from_charger
    assert not Datagram(
        SERIAL, 0x8004, password=frame.CHARGER_PASSWORD_FIELD
    ).from_charger


def test_defaults() -> None:
    datagram = Datagram(SERIAL, 0x0003)
    assert datagram.payload == b""
    assert datagram.password == frame.CHARGER_PASSWORD_FIELD
    assert datagram.key_type == 0
    assert datagram.encode() == V2


def test_key_type_round_trips() -> None:
    raw = Datagram(SERIAL, 0x0003, key_type=7).encode()
    assert raw[4] == 7
    assert frame.decode_datagram(raw).key_type == 7


def test_payload_too_long() -> None:
    longest = b"\x00" * (frame.MAX_DATAGRAM - frame.OVERHEAD)
    assert len(Datagram(SERIAL, 0x0001, longest).encode()) == frame.MAX_DATAGRAM
    with pytest.raises(FrameError, match="too long"):
        Datagram(SERIAL, 0x0001, longest + b"\x00").encode()


# --- checksum -----------------------------------------------------------------


def test_checksum_is_sum_mod_65536() -> None:
    assert frame.checksum(b"") == 0
    assert frame.checksum(b"\x01\x02") == 3
    assert frame.checksum(b"\xff" * 257) == (255 * 257) & 0xFFFF
    assert frame.checksum(b"\xff" * 257) != (255 * 257) % 0xFFFF


def test_checksum_both_reductions_accepted() -> None:
    raw = _frame(0x000A, b"\xff" * 400)
    total = sum(raw[:-4])
    mod_65536, mod_65535 = total & 0xFFFF, total % 0xFFFF
    assert mod_65536 != mod_65535  # the datagram really tells them apart
    assert int.from_bytes(raw[-4:-2], "big") == mod_65536  # what we send
    expected = Datagram(SERIAL, 0x000A, b"\xff" * 400, PASSWORD)
    for stored in (mod_65536, mod_65535):
        assert frame.decode_datagram(_with_checksum(raw, stored)) == expected
    wrong = _with_checksum(raw, (mod_65536 + 7) & 0xFFFF)
    with pytest.raises(FrameError, match="checksum"):
        frame.decode_datagram(wrong)
    assert list(frame.split_packet(wrong)) == []


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(_with_checksum(V1, 0x0B7C), id="off-by-one"),
        pytest.param(_with_checksum(V1, 0), id="zero"),
        pytest.param(V1[:30] + bytes([V1[30] ^ 0x01]) + V1[31:], id="payload-flip"),
        pytest.param(V1[:6] + bytes([V1[6] ^ 0x10]) + V1[7:], id="serial-flip"),
    ],
)
def test_checksum_mismatch_rejected(raw: bytes) -> None:
    with pytest.raises(FrameError, match="checksum"):
        frame.decode_datagram(raw)
    assert list(frame.split_packet(raw)) == []


# --- malformed datagrams ------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(b"\x06\x02" + V1[2:], "header", id="bad-header"),
        pytest.param(b"\x00" * 25, "header", id="zeros"),
        pytest.param(V1[:-2] + b"\x0f\x03", "tail", id="bad-tail"),
        pytest.param(V1[:-2] + b"\x02\x0f", "tail", id="swapped-tail"),
        pytest.param(V1[:2] + b"\x00\x18" + V1[4:], "length", id="length-24"),
        pytest.param(V1[:2] + b"\x00\x00" + V1[4:], "length", id="length-0"),
        pytest.param(V1[:2] + b"\x00\x33" + V1[4:], "length", id="length-too-big"),
        pytest.param(V1[:2] + b"\xff\xff" + V1[4:], "length", id="length-ffff"),
        pytest.param(V1 + b"\x00", "short", id="one-trailing-byte"),
        pytest.param(V1 + V2[:24], "short", id="truncated-second"),
        pytest.param(V1 + b"\x00" * 25, "header", id="trailing-zeros"),
        pytest.param(V1 + V2, "trailing", id="two-datagrams"),
        pytest.param(b"", "trailing", id="empty"),
    ],
)
def test_decode_datagram_rejects(raw: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        frame.decode_datagram(raw)


def test_truncated_datagram() -> None:
    for cut in range(len(V1)):
        truncated = V1[:cut]
        with pytest.raises(FrameError):
            frame.decode_datagram(truncated)
        assert list(frame.split_packet(truncated)) == []


def test_truncated_packet_keeps_complete_datagrams() -> None:
    packet = V1 + V2 + V3
    head = [frame.decode_datagram(V1), frame.decode_datagram(V2)]
    for cut in range(len(V1) + len(V2), len(packet)):
        assert list(frame.split_packet(packet[:cut])) == head
    for cut in range(len(V1), len(V1) + len(V2)):
        assert list(frame.split_packet(packet[:cut])) == head[:1]


# --- several datagrams per packet (§2.5) --------------------------------------


def test_split_packet_yields_every_datagram() -> None:
    parts = [V1, V2, V3, V7, V10]
    datagrams = list(frame.split_packet(b"".join(parts)))
    assert datagrams == [frame.decode_datagram(part) for part in parts]


def test_split_packet_empty() -> None:
    assert list(frame.split_packet(b"")) == []


@pytest.mark.parametrize("command", [0x7777, 0x010A, 0x0000, 0xFFFF])
def test_unknown_command_does_not_stop_splitting(command: int) -> None:
    unknown = _frame(command, b"\x01\x02\x03", password=frame.CHARGER_PASSWORD_FIELD)
    datagrams = list(frame.split_packet(V1 + unknown + V3))
    assert [d.command for d in datagrams] == [0x0004, command, 0x0112]
    assert datagrams[1].payload == b"\x01\x02\x03"


def test_corrupt_datagram_in_the_middle_is_skipped() -> None:
    bad_checksum = _with_checksum(V2, 0x1234)
    bad_tail = V2[:-2] + b"\xee\xee"
    datagrams = list(frame.split_packet(V1 + bad_checksum + bad_tail + V3))
    assert [d.command for d in datagrams] == [0x0004, 0x0112]


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(b"\x00", id="one-byte"),
        pytest.param(b"garbage", id="text"),
        pytest.param(b"\x06\x01", id="header-only"),
        pytest.param(b"\x06\x01\x00\x19" + b"\x00" * 21, id="framed-nonsense"),
        pytest.param(b"\xff" * 100, id="ff"),
        pytest.param(b"\x06\x01\x00\x18" + b"\x00" * 40, id="short-length"),
    ],
)
def test_garbage_is_dropped(garbage: bytes) -> None:
    head = [frame.decode_datagram(V1), frame.decode_datagram(V2)]
    # After a datagram: dropped.
    assert list(frame.split_packet(V1 + V2 + garbage)) == head
    # Between datagrams: what precedes it survives; parsing stops there (§2.5).
    assert list(frame.split_packet(V1 + V2 + garbage + V3))[:2] == head
    # Alone: nothing.
    assert list(frame.split_packet(garbage)) == []


# --- serial and password helpers ----------------------------------------------


@pytest.mark.parametrize(
    ("given_serial", "expected"),
    [
        ("9181102751219513", "9181102751219513"),
        ("  9181102751219513\n", "9181102751219513"),
        ("39FF221053CB1F00", "39ff221053cb1f00"),
        ("abcdefABCDEF0123", "abcdefabcdef0123"),
        ("9181 1027 5121 9513", "9181102751219513"),  # as printed on labels
        ("9181-1027-5121-9513", "9181102751219513"),
    ],
)
def test_normalize_serial(given_serial: str, expected: str) -> None:
    assert frame.normalize_serial(given_serial) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "918110275121951",  # 15 characters
        "91811027512195130",  # 17 characters
        "918110275121951g",
        "9181 1027 512195",  # 14 digits once the spaces are gone
        "9181\t10275121951",
        "0x18110275121951",
        "+181102751219513",
        "918110275121951_",
        "".join(chr(0xFF10 + int(digit)) for digit in SERIAL),  # full-width digits
    ],
)
def test_normalize_serial_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="16 hexadecimal"):
        frame.normalize_serial(bad)


def test_password_field() -> None:
    assert frame.password_field("123456") == b"123456"
    assert frame.password_field("") == frame.NO_PASSWORD
    assert frame.password_field(None) == frame.NO_PASSWORD
    assert frame.NO_PASSWORD == b"\x00" * 6


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("12345", "6 ASCII"),
        ("1234567", "6 ASCII"),
        (" 123456 ", "6 ASCII"),
        ("12345\u00e9", "6 ASCII"),
        ("\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9", "6 ASCII"),
    ],
)
def test_password_field_rejects(bad: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        frame.password_field(bad)
    assert bad not in str(raised.value)  # errors end up in logs and forms


# --- log redaction ------------------------------------------------------------


def _hex_tokens(raw: bytes) -> list[str]:
    return [f"{byte:02x}" for byte in raw]


def test_redact_masks_client_password() -> None:
    """The password and the checksum (which gives away its byte sum)."""
    expected = _hex_tokens(V10)
    expected[13:19] = ["**"] * 6
    expected[-4:-2] = ["**"] * 2
    assert frame.redact_for_log(V10) == " ".join(expected)
    assert "31 32 33 34 35 36" not in frame.redact_for_log(V10)


def test_redact_keeps_charger_datagrams() -> None:
    assert frame.redact_for_log(V1) == " ".join(_hex_tokens(V1))
    assert frame.redact_for_log(V1) == V1.hex(" ")


def test_redact_keeps_empty_passwords() -> None:
    """Six zero bytes (the probe) hide nothing."""
    probe = Datagram(frame.PROBE_SERIAL, 0x8002, b"", frame.NO_PASSWORD).encode()
    assert frame.redact_for_log(probe) == probe.hex(" ")


def test_redact_masks_an_emulators_own_password() -> None:
    """Some implementations write their password into their own frames."""
    raw = _frame(0x0004, bytes(25), password=PASSWORD)
    tokens = frame.redact_for_log(raw).split()
    assert tokens[13:19] == ["**"] * 6
    assert tokens[-4:-2] == ["**"] * 2


@pytest.mark.parametrize("command", sorted(frame.SECRET_PAYLOAD_COMMANDS))
def test_redact_masks_secret_payloads(command: int) -> None:
    raw = _frame(command, b"MySSID\x00hunter2", password=frame.CHARGER_PASSWORD_FIELD)
    tokens = frame.redact_for_log(raw).split()
    assert tokens[:21] == _hex_tokens(raw[:21])  # charger password in clear
    assert tokens[21:-4] == ["**"] * 14
    assert tokens[-4:] == ["**", "**", "0f", "02"]  # the checksum sums the secret


def test_redact_wifi_reply_with_empty_payload() -> None:
    raw = _frame(0x010A, password=frame.CHARGER_PASSWORD_FIELD)
    assert frame.redact_for_log(raw) == raw.hex(" ")


def test_redact_concatenated_datagrams() -> None:
    wifi = _frame(0x010A, b"secret", password=frame.CHARGER_PASSWORD_FIELD)
    packet = V1 + V10 + wifi + V10
    expected = _hex_tokens(packet)
    for start in (len(V1), len(V1) + len(V10) + len(wifi)):
        expected[start + 13 : start + 19] = ["**"] * 6
        end = start + len(V10)
        expected[end - 4 : end - 2] = ["**"] * 2
    wifi_payload = len(V1) + len(V10) + 21
    expected[wifi_payload : wifi_payload + 6] = ["**"] * 6
    expected[wifi_payload + 6 : wifi_payload + 8] = ["**"] * 2
    assert frame.redact_for_log(packet) == " ".join(expected)


def test_redact_finds_secrets_behind_malformed_bytes() -> None:
    """A broken datagram before a Wi-Fi reply must not expose the passphrase."""
    wifi = _frame(0x010A, b"MySSID\x00hunter2", password=frame.CHARGER_PASSWORD_FIELD)
    broken = V1[:10] + b"\xff\xff" + V1[12:]  # damaged: the checksum fails
    for packet in (b"junk" + wifi, broken + wifi, V1[:30] + wifi, wifi[:-3]):
        redacted = frame.redact_for_log(packet)
        assert b"hunter2".hex(" ") not in redacted
        assert len(redacted.split()) == len(packet)


def test_redact_truncated_client_datagram() -> None:
    for cut in range(14, len(V10)):
        redacted = frame.redact_for_log(V10[:cut]).split()
        assert len(redacted) == cut
        assert redacted[13 : min(cut, 19)] == ["**"] * (min(cut, 19) - 13)
        assert "**" not in redacted[19:]


def test_redact_truncated_secret_payload() -> None:
    raw = _frame(0x810A, b"MySSID\x00hunter2")
    tokens = frame.redact_for_log(raw[:-6]).split()
    assert tokens[13:19] == ["**"] * 6
    assert tokens[21:] == ["**"] * (len(raw) - 6 - 21)


def test_redact_garbage_after_datagram() -> None:
    packet = V10 + b"junk"
    tokens = frame.redact_for_log(packet).split()
    assert tokens[13:19] == ["**"] * 6
    assert tokens[len(V10) :] == _hex_tokens(b"junk")


# --- properties ---------------------------------------------------------------

serials = st.binary(min_size=8, max_size=8).map(bytes.hex)
passwords = st.sampled_from(
    [frame.CHARGER_PASSWORD_FIELD, frame.NO_PASSWORD, PASSWORD]
) | st.binary(min_size=6, max_size=6)


@st.composite
def datagrams(draw: st.DrawFn, max_payload: int = 300) -> Datagram:
    """Any datagram: random serial, command, payload, password and key type."""
    return Datagram(
        serial=draw(serials),
        command=draw(st.integers(0, 0xFFFF)),
        payload=draw(st.binary(max_size=max_payload)),
        password=draw(passwords),
        key_type=draw(st.sampled_from([0, 0, 0, 1, 0xFF])),
    )


@given(datagrams())
def test_datagram_round_trip(datagram: Datagram) -> None:
    raw = datagram.encode()
    assert len(raw) == frame.OVERHEAD + len(datagram.payload)
    assert raw[:2] == frame.HEADER
    assert raw[-2:] == frame.TAIL
    assert frame.decode_datagram(raw) == datagram


@given(st.lists(datagrams(max_payload=80), max_size=6))
def test_split_packet_round_trip(parts: list[Datagram]) -> None:
    packet = b"".join(d.encode() for d in parts)
    assert list(frame.split_packet(packet)) == parts


@given(st.binary(max_size=400))
def test_split_packet_never_raises(packet: bytes) -> None:
    for datagram in frame.split_packet(packet):
        assert isinstance(datagram, Datagram)


@given(st.binary(max_size=400))
def test_decode_datagram_only_raises_frame_error(packet: bytes) -> None:
    try:
        datagram = frame.decode_datagram(packet)
    except FrameError:
        return
    assert datagram.encode() == packet


@given(st.lists(datagrams(max_payload=60), min_size=1, max_size=4), st.data())
def test_split_packet_survives_damage(
    parts: list[Datagram], data: st.DataObject
) -> None:
    raws = [d.encode() for d in parts]
    packet = b"".join(raws)
    damaged = data.draw(st.integers(0, len(packet) - 1), label="damaged byte")
    flipped = packet[:damaged] + bytes([packet[damaged] ^ 0xFF]) + packet[damaged + 1 :]
    yielded = list(frame.split_packet(flipped))
    ends = list(accumulate(len(raw) for raw in raws))
    index = next(i for i, end in enumerate(ends) if damaged < end)
    position = damaged - (ends[index] - len(raws[index]))
    # Everything before the damaged datagram comes out unchanged.
    assert yielded[:index] == parts[:index]
    if position < 2:  # header: parsing stops there
        assert yielded == parts[:index]
    elif position >= 4:  # anything else but the length: only that one is lost
        # (small datagrams: a flip cannot be hidden by the mod-65535 reduction)
        assert yielded == parts[:index] + parts[index + 1 :]


@given(st.binary(max_size=300))
def test_redact_never_raises(packet: bytes) -> None:
    assert len(frame.redact_for_log(packet).split()) == len(packet)


@given(st.lists(datagrams(max_payload=40), max_size=4), st.data())
def test_redact_masks_every_client_password(
    parts: list[Datagram], data: st.DataObject
) -> None:
    packet = b"".join(d.encode() for d in parts)
    cut = data.draw(st.integers(0, len(packet)), label="cut")
    tokens = frame.redact_for_log(packet[:cut]).split()
    assert len(tokens) == cut
    start = 0
    for datagram in parts:
        field = tokens[start + 13 : start + 19]
        if datagram.password in (frame.CHARGER_PASSWORD_FIELD, frame.NO_PASSWORD):
            assert field == _hex_tokens(datagram.password)[: len(field)]
        else:
            assert field == ["**"] * len(field)
        start += frame.OVERHEAD + len(datagram.payload)
