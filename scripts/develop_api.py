"""Home Assistant HTTP calls of ``scripts/develop`` (standard library only).

Runs with the virtualenv's Python, so ``scripts/develop`` needs nothing that
``scripts/bootstrap`` does not install (no curl, no jq):

    python scripts/develop_api.py answers URL
    python scripts/develop_api.py wait-ready URL CONFIG_DIR PID [TIMEOUT]
    python scripts/develop_api.py onboard URL CONFIG_DIR NAME USER PASSWORD
    python scripts/develop_api.py setup URL USER PASSWORD CHARGER_PASSWORD SERIAL...

``setup`` adds each simulated charger through the integration's config flow
REST API, as the UI does: the user step's radio list ``charger`` (a
discovered serial, or ``manual``), then ``discovery_confirm`` (password) for a
discovered charger, or ``manual`` (``serial`` and ``password``).

Exit status 0 on success; 1 with a message on stderr otherwise (``answers``:
1 when nothing answers; ``wait-ready``: 3 when the process exited, 4 on
timeout). Development only; never part of the integration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import contextlib
import json
import os
from pathlib import Path
import sys
import time
from typing import Any
from urllib import error, parse, request

DOMAIN = "evse_master"
MANUAL = "manual"
ATTEMPTS = 3  # user steps opened before a serial that is not listed is typed
TIMEOUT = 30.0  # the config flow waits up to 2 s (user) and 10 s (login) itself


class ApiError(Exception):
    """An HTTP call failed; the message says which and why."""


def _call(
    method: str,
    url: str,
    body: Mapping[str, Any] | None = None,
    *,
    token: str | None = None,
    form: bool = False,
    timeout: float = TIMEOUT,
) -> Any:
    """One request; the decoded JSON answer (raises ApiError)."""
    headers = {}
    data = None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        if form:
            data = parse.urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
    req = request.Request(url, data=data, headers=headers, method=method)
    try:
        with request.urlopen(req, timeout=timeout) as response:
            text = response.read().decode()
    except error.HTTPError as err:
        detail = err.read().decode(errors="replace")
        raise ApiError(f"{method} {url}: HTTP {err.code} {detail}") from None
    except (OSError, error.URLError) as err:
        raise ApiError(f"{method} {url}: {err}") from None
    return json.loads(text) if text else None


def _status(url: str, timeout: float = 2.0) -> int | None:
    """HTTP status of GET ``url``; None when nothing answers."""
    try:
        with request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except error.HTTPError as err:
        return int(err.code)
    except (OSError, error.URLError):
        return None


def onboarded(config_dir: str) -> bool:
    """Whether the onboarding user step is done (a user exists)."""
    try:
        stored = json.loads(Path(config_dir, ".storage", "onboarding").read_text())
    except (OSError, ValueError):
        return False
    return "user" in stored.get("data", {}).get("done", [])


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs (macOS): kill(0) is all there is
    return stat.rpartition(")")[2].split()[0] != "Z"


def wait_ready(base: str, config_dir: str, pid: int, limit: float) -> int:
    """Until the frontend is served, and before onboarding /api/onboarding.

    ``/manifest.json`` comes with the frontend (which depends on api, auth
    and onboarding); an unauthenticated ``/api/`` would raise a "Login
    attempt failed" notification. ``/api/onboarding`` only exists while
    onboarding is not done.
    """
    start = time.monotonic()
    while True:
        if _status(f"{base}/manifest.json") == 200 and (
            onboarded(config_dir) or _status(f"{base}/api/onboarding") == 200
        ):
            return 0
        if not _alive(pid):
            return 3
        if time.monotonic() - start > limit:
            return 4
        time.sleep(0.5)


def onboard(base: str, config_dir: str, name: str, user: str, password: str) -> None:
    """Create the first user (the onboarding user step) unless it exists."""
    if onboarded(config_dir):
        return
    _call(
        "POST",
        f"{base}/api/onboarding/users",
        {
            "client_id": f"{base}/",
            "name": name,
            "username": user,
            "password": password,
            "language": "en",
        },
    )
    _log(f"created the user {user}")


def login(base: str, user: str, password: str) -> str:
    """An access token, through the normal login flow."""
    client_id = f"{base}/"
    flow = _call(
        "POST",
        f"{base}/auth/login_flow",
        {
            "client_id": client_id,
            "handler": ["homeassistant", None],
            "redirect_uri": f"{client_id}?auth_callback=1",
        },
    )
    result = _call(
        "POST",
        f"{base}/auth/login_flow/{flow['flow_id']}",
        {"client_id": client_id, "username": user, "password": password},
    )
    if result.get("type") != "create_entry":
        raise ApiError(f"could not log in as {user}: {result}")
    tokens = _call(
        "POST",
        f"{base}/auth/token",
        {
            "grant_type": "authorization_code",
            "code": result["result"],
            "client_id": client_id,
        },
        form=True,
    )
    return str(tokens["access_token"])


def _options(step: Mapping[str, Any], field: str) -> list[str]:
    """The values of a select field of a form step."""
    for item in step.get("data_schema") or []:
        if item.get("name") == field:
            select = (item.get("selector") or {}).get("select") or {}
            return [
                option["value"] if isinstance(option, dict) else str(option)
                for option in select.get("options", [])
            ]
    return []


def add_charger(base: str, token: str, serial: str, password: str) -> str:
    """Add one charger through the config flow; a line saying what happened."""
    flows = f"{base}/api/config/config_entries/flow"
    how = "discovered"
    for attempt in range(ATTEMPTS):
        step = _call(
            "POST",
            flows,
            {"handler": DOMAIN, "show_advanced_options": False},
            token=token,
        )
        if step.get("type") != "form" or step.get("step_id") != "user":
            break
        if serial in _options(step, "charger"):
            answer: dict[str, Any] = {"charger": serial}
        elif attempt + 1 < ATTEMPTS:
            # The step lists what it heard within 2 s of the first charger;
            # the simulators announce every second: look again, as a user
            # would by reopening the dialog.
            _call("DELETE", f"{flows}/{step['flow_id']}", token=token)
            time.sleep(1.5)
            continue
        else:  # configured already (then not offered), or never heard
            how = "typed"
            answer = {"charger": MANUAL}
        step = _call("POST", f"{flows}/{step['flow_id']}", answer, token=token)
        break
    if step.get("type") == "form" and step.get("step_id") == "discovery_confirm":
        step = _call(
            "POST", f"{flows}/{step['flow_id']}", {"password": password}, token=token
        )
    elif step.get("type") == "form" and step.get("step_id") == "manual":
        how = "typed"
        step = _call(
            "POST",
            f"{flows}/{step['flow_id']}",
            {"serial": serial, "password": password},
            token=token,
        )
    if step.get("type") == "create_entry":
        state = (step.get("result") or {}).get("state")
        return f"added charger {serial} ({how}): {step.get('title')} ({state})"
    if step.get("type") == "abort" and step.get("reason") == "already_configured":
        return f"charger {serial} is configured already"
    if step.get("flow_id") and step.get("type") == "form":
        # Do not leave the flow (and its listener hold) behind.
        with contextlib.suppress(ApiError):
            _call("DELETE", f"{flows}/{step['flow_id']}", token=token)
    raise ApiError(f"adding charger {serial} through the config flow failed: {step}")


def _log(text: str) -> None:
    print(f">> {text}", file=sys.stderr, flush=True)


def setup(
    base: str, user: str, password: str, charger_password: str, serials: Sequence[str]
) -> None:
    """Add the chargers; one that is configured already aborts its flow.

    (The REST list of entries has no unique ids; a configured charger is not
    offered in the list, so its flow goes to ``manual``, which aborts with
    ``already_configured`` before any login.)
    """
    token = login(base, user, password)
    for serial in serials:
        _log(add_charger(base, token, serial, charger_password))


def main(argv: Sequence[str]) -> int:
    """Run one subcommand; the exit status."""
    command, *args = argv or [""]
    try:
        if command == "answers" and len(args) == 1:
            return 0 if _status(args[0]) is not None else 1
        if command == "wait-ready" and len(args) in (3, 4):
            limit = float(args[3]) if len(args) == 4 else 180.0
            return wait_ready(args[0], args[1], int(args[2]), limit)
        if command == "onboard" and len(args) == 5:
            onboard(*args)
            return 0
        if command == "setup" and len(args) >= 5:
            setup(args[0], args[1], args[2], args[3], args[4:])
            return 0
    except ApiError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C during start-up: scripts/develop cleans up
        return 130
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
