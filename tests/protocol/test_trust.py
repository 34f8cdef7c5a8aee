"""The trust policy: what frames from whom may change a charger session.

Most tests drive a real :class:`Charger` in process (:mod:`inprocess`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from custom_components.evse_master.protocol.charger import (
    Charger,
    ChargerState,
    Connection,
)
from custom_components.evse_master.protocol.enums import (
    Command,
)
from custom_components.evse_master.protocol.errors import InvalidPasswordError
from custom_components.evse_master.protocol.frame import (
    CHARGER_PASSWORD_FIELD,
    NO_PASSWORD,
    Datagram,
    password_field,
)
from custom_components.evse_master.protocol.listener import Address
from custom_components.evse_master.protocol.messages import (
    DeviceInfo,
)
from custom_components.evse_master.protocol.trust import (
    Drop,
    SessionView,
    answered,
    judge,
)
from tests.protocol.inprocess import (
    CHARGER,
    INFO,
    OTHER_STRANGER,
    PASSWORD,
    SERIAL,
    STRANGER,
    TIMINGS,
    RecordingListener,
    Session,
    frame,
    logged_in,
    status,
)


@pytest.fixture
async def session() -> AsyncIterator[Session]:
    """A logged-in charger client."""
    created = await logged_in()
    yield created
    await created.charger.close()


# --- the policy itself ------------------------------------------------------------

VIEW = SessionView(
    bound=CHARGER,
    logged_in=True,
    bound_silent_for=1.0,
    heading_timeout=35.0,
    login_target=None,
)


@pytest.mark.parametrize(
    ("datagram", "source", "view", "drop", "rebind"),
    [
        (Datagram(SERIAL, Command.STATUS), CHARGER, VIEW, None, False),
        (Datagram(SERIAL, Command.STATUS), ("127.0.0.1", 1), VIEW, None, True),
        (Datagram(SERIAL, Command.STATUS), STRANGER, VIEW, Drop.FOREIGN, False),
        (
            Datagram(SERIAL, Command.STATUS, key_type=1),
            CHARGER,
            VIEW,
            Drop.ENCRYPTED,
            False,
        ),
        (Datagram(SERIAL, Command.STATUS_ACK), CHARGER, VIEW, Drop.CLIENT_FRAME, False),
        # Zeros or a password in the header do not make it a client's frame.
        (
            Datagram(SERIAL, Command.STATUS, password=NO_PASSWORD),
            CHARGER,
            VIEW,
            None,
            False,
        ),
        (
            Datagram(SERIAL, Command.STATUS, password=b"123456"),
            CHARGER,
            VIEW,
            None,
            False,
        ),
        # Announcements from elsewhere move the session only when it is down.
        (
            Datagram(SERIAL, Command.LOGIN_ANNOUNCEMENT),
            STRANGER,
            VIEW,
            Drop.FOREIGN,
            False,
        ),
        (
            Datagram(SERIAL, Command.LOGIN_ANNOUNCEMENT),
            STRANGER,
            replace(VIEW, logged_in=False),
            None,
            True,
        ),
        (
            Datagram(SERIAL, Command.LOGIN_ANNOUNCEMENT),
            STRANGER,
            replace(VIEW, bound_silent_for=36.0),
            None,
            True,
        ),
        (
            Datagram(SERIAL, Command.LOGIN_ANNOUNCEMENT),
            STRANGER,
            replace(VIEW, bound=None, logged_in=False),
            None,
            True,
        ),
        # Login answers: only for our outstanding request, from where it went.
        (
            Datagram(SERIAL, Command.LOGIN_RESPONSE),
            CHARGER,
            VIEW,
            Drop.UNSOLICITED,
            False,
        ),
        (
            Datagram(SERIAL, Command.PASSWORD_ERROR),
            CHARGER,
            VIEW,
            Drop.UNSOLICITED,
            False,
        ),
        (
            Datagram(SERIAL, Command.PASSWORD_ERROR),
            STRANGER,
            replace(VIEW, login_target=CHARGER),
            Drop.UNSOLICITED,
            False,
        ),
        (
            Datagram(SERIAL, Command.LOGIN_RESPONSE),
            ("127.0.0.1", 11938),
            replace(VIEW, login_target=CHARGER),
            None,
            True,
        ),
        (
            Datagram(SERIAL, Command.LOGIN_RESPONSE),
            STRANGER,
            replace(VIEW, bound=None, login_target=STRANGER),
            None,
            True,
        ),
    ],
)
def test_judge(
    datagram: Datagram,
    source: Address,
    view: SessionView,
    drop: Drop | None,
    rebind: bool,
) -> None:
    verdict = judge(datagram, source, view)
    assert verdict.drop is drop
    assert verdict.rebind is rebind
    assert verdict.believed is (drop is None)


def test_headings_are_answered_only_in_a_session() -> None:
    assert answered(Command.HEADING, VIEW)
    assert not answered(Command.HEADING, replace(VIEW, logged_in=False))
    assert answered(Command.STATUS, replace(VIEW, logged_in=False))


# --- a logged-in charger and strangers on the LAN --------------------------------


async def test_forged_status_changes_nothing(session: Session) -> None:
    """Serial, FF x 6 and junk from another host: no value, no address, no answer."""
    before = session.charger.state
    junk = bytes.fromhex("ff" * 6) + bytes(range(25))
    session.receive(frame(Command.STATUS, junk), STRANGER)
    session.receive(frame(Command.STATUS, status(9_236_393).build()), STRANGER)
    assert session.charger.state == before
    assert session.charger.address == CHARGER
    assert session.listener.sent == []
    assert session.charger.diagnostics.dropped[Drop.FOREIGN] == 2
    assert session.charger.diagnostics.last_foreign_source == STRANGER


async def test_forged_password_error_is_no_verdict(session: Session) -> None:
    """One PasswordError, from anywhere, starts no reauth and ends no session."""
    for source in (STRANGER, CHARGER):
        session.receive(frame(Command.PASSWORD_ERROR, b"\x00"), source)
    state = session.charger.state
    assert state.logged_in
    assert not state.auth_failed
    assert state.connection is Connection.CONNECTED
    assert session.charger.diagnostics.dropped[Drop.UNSOLICITED] == 2


async def test_unsolicited_login_response_replaces_nothing(session: Session) -> None:
    """Device info comes only from the answer to our own login."""
    fake = DeviceInfo(12, "FAKE", "X", "H", 1000, 6)
    session.receive(frame(Command.LOGIN_RESPONSE, fake.build()), CHARGER)
    session.receive(frame(Command.LOGIN_RESPONSE, fake.build()), STRANGER)
    assert session.charger.state.info == INFO
    assert session.charger.state.max_current == 32


async def test_heading_while_logged_out_proves_no_session() -> None:
    """A heading before any login is not answered and logs nobody in."""
    listener = RecordingListener()
    charger = Charger(listener, SERIAL, PASSWORD, address=CHARGER, timings=TIMINGS)
    await charger.start(login=False)
    listener.receive(frame(Command.HEADING), CHARGER)
    assert not charger.state.logged_in
    assert listener.sent == []
    await charger.close()


async def test_encrypted_frames_are_not_read(session: Session) -> None:
    """Key type ≠ 0: dropped, counted, whatever the payload says."""
    session.receive(frame(Command.STATUS, status(2000).build(), key_type=1))
    assert session.charger.state.status == status()
    assert session.charger.diagnostics.dropped[Drop.ENCRYPTED] == 1


async def test_new_port_of_the_session_ip_is_followed(session: Session) -> None:
    """Only the source port changed: the session follows it."""
    moved = ("127.0.0.1", 41000)
    session.receive(frame(Command.STATUS, status(1476).build()), moved)
    assert session.charger.address == moved
    assert session.sent_to(moved) == [Command.STATUS_ACK]


async def test_foreign_announcement_moves_a_lost_session() -> None:
    """An announcement from a new IP counts once the session is gone."""
    session = await logged_in()
    announcement = frame(Command.LOGIN_ANNOUNCEMENT, INFO.build())
    session.receive(announcement, STRANGER)
    assert session.charger.address == CHARGER
    session.receive(announcement, CHARGER)  # the charger itself: session over
    assert not session.charger.state.logged_in
    session.receive(announcement, STRANGER)  # now a new address is believable
    assert session.charger.address == STRANGER
    await session.charger.close()


async def test_one_announcement_brings_the_session_back(session: Session) -> None:
    """A charger that announces (it dropped us) gets a login at once.

    Nothing else needs to arrive: a charger that never pushes still gets it.
    """
    session.receive(frame(Command.LOGIN_ANNOUNCEMENT, INFO.build()), CHARGER)
    assert not session.charger.state.logged_in
    for _ in range(5):  # the re-login is a task of its own: a few loop turns
        await asyncio.sleep(0)
    logins = [
        datagram
        for datagram, to in session.listener.sent
        if datagram.command == Command.REQUEST_LOGIN and to == CHARGER
    ]
    assert len(logins) == 1
    assert logins[0].password == PASSWORD.encode()


async def test_a_single_refusal_is_confirmed_before_believed() -> None:
    """PasswordError then LoginResponse: logged in, no auth failure."""
    listener = RecordingListener()
    charger = Charger(listener, SERIAL, PASSWORD, address=CHARGER, timings=TIMINGS)
    await charger.start(login=False)
    login = asyncio.create_task(charger.login())
    await asyncio.sleep(0)
    listener.receive(frame(Command.PASSWORD_ERROR, b"\x00"), CHARGER)
    await asyncio.sleep(0.01)
    assert [d.command for d, _ in listener.sent].count(Command.REQUEST_LOGIN) == 2
    listener.receive(frame(Command.LOGIN_RESPONSE, INFO.build()), CHARGER)
    await login
    assert charger.state.logged_in
    assert not charger.state.auth_failed
    await charger.close()


async def test_two_refusals_are_a_wrong_password() -> None:
    listener = RecordingListener()
    charger = Charger(listener, SERIAL, PASSWORD, address=CHARGER, timings=TIMINGS)
    await charger.start(login=False)
    login = asyncio.create_task(charger.login())
    for _ in range(2):
        await asyncio.sleep(0.01)
        listener.receive(frame(Command.PASSWORD_ERROR, b"\x00"), CHARGER)
    with pytest.raises(InvalidPasswordError):
        await login
    assert charger.state.auth_failed
    assert charger.state.connection is Connection.AUTH_FAILED
    await charger.close()


async def test_password_goes_only_to_the_session_address(session: Session) -> None:
    """Whatever arrives from strangers, everything we send goes to CHARGER."""
    for command in (Command.HEADING, Command.STATUS, Command.CHARGING_STATUS):
        session.receive(frame(command, bytes(80)), STRANGER)
        session.receive(frame(command, bytes(80)), OTHER_STRANGER)
    session.receive(frame(Command.HEADING), CHARGER)
    assert {to for _, to in session.listener.sent} == {CHARGER}
    assert all(d.password == password_field(PASSWORD) for d, _ in session.listener.sent)


# --- property: no sequence of strangers' frames changes the session ----------------

_COMMANDS = st.sampled_from(
    [
        Command.LOGIN_ANNOUNCEMENT,
        Command.LOGIN_RESPONSE,
        Command.HEADING,
        Command.STATUS,
        Command.CHARGING_STATUS,
        Command.STATUS_RESPONSE,
        Command.PASSWORD_ERROR,
        Command.CHARGE_START_RESPONSE,
        Command.OUTPUT_CURRENT_RESPONSE,
        Command.NICKNAME_RESPONSE,
        Command.LOCAL_CHARGE_RECORD,
        Command.VERSION_RESPONSE,
    ]
) | st.integers(0, 0xFFFF)


@st.composite
def stranger_frames(draw: st.DrawFn) -> tuple[bytes, Address]:
    command = draw(_COMMANDS)
    payload = draw(
        st.sampled_from(
            [INFO.build(), status(5000).build(), b"\x00", b"\x01\x10", bytes(74)]
        )
        | st.binary(max_size=160)
    )
    password = draw(st.sampled_from([CHARGER_PASSWORD_FIELD, NO_PASSWORD, b"123456"]))
    source = draw(st.sampled_from([STRANGER, OTHER_STRANGER]))
    port = draw(st.sampled_from([source[1], 7248, 1]))
    datagram = Datagram(SERIAL, command, payload, password)
    return datagram.encode(), (source[0], port)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(stranger_frames(), max_size=25))
def test_strangers_never_change_a_session(frames: list[tuple[bytes, Address]]) -> None:
    async def scenario() -> tuple[ChargerState, ChargerState, list[Address]]:
        session = await logged_in()
        before = session.charger.state
        for data, source in frames:
            session.receive(data, source)
        after = session.charger.state
        targets = [to for _, to in session.listener.sent]
        await session.charger.close()
        return before, after, targets

    before, after, targets = asyncio.run(scenario())
    # The one thing that may change: telling the owner someone keeps trying.
    assert after.impostor in (None, STRANGER[0], OTHER_STRANGER[0])
    assert replace(after, impostor=None) == before
    assert targets == []
