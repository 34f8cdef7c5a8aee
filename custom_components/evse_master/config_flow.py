"""Config flow: serial + password, discovery, reauth and reconfigure.

Every step that takes a password logs in with a charger client of its own;
the running entry's session only believes answers to its own requests, so a
failed check here never touches it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
import contextlib
import ipaddress
from typing import Any

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.const import CONF_HOST, CONF_PASSWORD
from homeassistant.core import callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.util import dt as dt_util

from . import const
from .const import (
    CONF_ACK_RECORDS,
    CONF_BRAND,
    CONF_CURRENT_POLICY,
    CONF_MODEL,
    CONF_PORT,
    CONF_RELAY_PROTECTION,
    CONF_SERIAL,
    CONF_STATIC_HOST,
    CURRENT_POLICIES,
    DOMAIN,
    LOGGER,
    POLICY_WAIT,
    RELAY_PROTECTION_RANGE,
)
from .hub import async_get_hub, discovery_data, entry_address
from .protocol.charger import Charger, ChargerState
from .protocol.errors import (
    ChargerNotReachableError,
    EvseMasterError,
    InvalidPasswordError,
    PortInUseError,
)
from .protocol.frame import normalize_serial, password_field
from .protocol.listener import Address, DiscoveredCharger
from .schema import vol

CONF_CHARGER = "charger"
"""The user step's choice: a discovered serial, or :data:`MANUAL_ENTRY`."""
MANUAL_ENTRY = "manual"

PASSWORD_SELECTOR = TextSelector(
    TextSelectorConfig(type=TextSelectorType.PASSWORD, autocomplete="off")
)


class EvseMasterConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up one charger per entry; the serial is the unique id."""

    VERSION = 1
    MINOR_VERSION = 2

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> EvseMasterOptionsFlow:
        """Record acknowledgement, relay protection, restart-to-apply policy."""
        return EvseMasterOptionsFlow()

    def __init__(self) -> None:
        """Start with nothing discovered."""
        self._discovered: dict[str, DiscoveredCharger] = {}
        self._heard: dict[str, asyncio.Future[DiscoveredCharger]] = {}
        self._listening = False
        self._stop_listening: list[Callable[[], None]] = []
        self._discovery_info: dict[str, Any] = {}

    # --- user -------------------------------------------------------------------

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Offer the chargers heard on the LAN; without any, ask for a serial."""
        try:
            await self._async_listen()
        except PortInUseError:
            return self.async_abort(reason="port_in_use")
        if user_input is None:
            await self._async_wait_for_first(const.DISCOVERY_WAIT)
        if user_input is not None:
            choice = user_input[CONF_CHARGER]
            if choice == MANUAL_ENTRY:
                return await self.async_step_manual()
            found = self._discovered[choice]
            await self.async_set_unique_id(found.serial, raise_on_progress=False)
            self._abort_if_unique_id_configured()
            self._discovery_info = discovery_data(found)
            return await self.async_step_discovery_confirm()
        options = self._offered()
        if not options:
            return await self.async_step_manual()
        # Radio buttons, no free text: typing never turns into another charger.
        selector = SelectSelector(
            SelectSelectorConfig(
                options=[
                    *options,
                    SelectOptionDict(value=MANUAL_ENTRY, label=MANUAL_ENTRY),
                ],
                translation_key=CONF_CHARGER,
                mode=SelectSelectorMode.LIST,
            )
        )
        return self.async_show_form(
            step_id="user",
            data_schema=vol.Schema({vol.Required(CONF_CHARGER): selector}),
        )

    async def async_step_manual(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for serial and password (the serial as printed, spaces allowed)."""
        errors: dict[str, str] = {}
        if user_input is not None:
            serial = ""
            try:
                serial = normalize_serial(user_input[CONF_SERIAL])
            except ValueError:
                errors[CONF_SERIAL] = "invalid_serial"
            try:
                password_field(user_input[CONF_PASSWORD])
            except ValueError:
                errors[CONF_PASSWORD] = "invalid_password"
            if not errors:
                await self.async_set_unique_id(serial, raise_on_progress=False)
                self._abort_if_unique_id_configured()
                found = await self._async_find(serial)
                result = await self._async_login(
                    serial,
                    user_input[CONF_PASSWORD],
                    found.address if found else None,
                    errors,
                )
                if result is not None:
                    return result
        schema = vol.Schema(
            {
                vol.Required(CONF_SERIAL): TextSelector(),
                vol.Required(CONF_PASSWORD): PASSWORD_SELECTOR,
            }
        )
        return self.async_show_form(
            step_id="manual",
            data_schema=self.add_suggested_values_to_schema(
                schema, {CONF_SERIAL: (user_input or {}).get(CONF_SERIAL, "")}
            ),
            errors=errors,
        )

    def _offered(self) -> list[SelectOptionDict]:
        """Chargers heard on the LAN that are not configured yet."""
        configured = self._async_current_ids(include_ignore=False)
        return [
            SelectOptionDict(value=serial, label=_describe(found))
            for serial, found in sorted(self._discovered.items())
            if serial not in configured
        ]

    async def _async_listen(self) -> None:
        """Hear chargers while the flow lives (announcements, probe answers)."""
        if self._listening:
            return
        hub = async_get_hub(self.hass)
        await hub.async_acquire()
        self._listening = True
        self._stop_listening.append(hub.shared.release)
        self._stop_listening.append(
            hub.shared.listener.subscribe_discovery(self._on_discovered)
        )
        await hub.async_probe()

    async def _async_wait_for_first(self, seconds: float) -> None:
        if self._discovered:
            return
        first = self._heard.setdefault("", self.hass.loop.create_future())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await asyncio.shield(first)

    async def _async_find(self, serial: str) -> DiscoveredCharger | None:
        """Where ``serial`` is: heard already, or heard after a probe."""
        if (found := self._discovered.get(serial)) is not None:
            return found
        heard = self._heard.setdefault(serial, self.hass.loop.create_future())
        await async_get_hub(self.hass).async_probe()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(const.CONNECT_WAIT):
                return await asyncio.shield(heard)
        return None

    @callback
    def _on_discovered(self, found: DiscoveredCharger) -> None:
        known = self._discovered.get(found.serial)
        if known is None or found.info is not None:
            self._discovered[found.serial] = found
        for key in (found.serial, ""):
            waiter = self._heard.get(key)
            if waiter is not None and not waiter.done():
                waiter.set_result(found)

    @callback
    def async_remove(self) -> None:
        """Stop listening for chargers when the flow ends."""
        while self._stop_listening:
            self._stop_listening.pop()()

    # --- integration discovery ---------------------------------------------------

    async def async_step_integration_discovery(
        self, discovery_info: dict[str, Any]
    ) -> ConfigFlowResult:
        """Handle a charger heard by the running listener."""
        serial = discovery_info[CONF_SERIAL]
        await self.async_set_unique_id(serial)
        self._abort_if_unique_id_configured(
            updates={
                CONF_HOST: discovery_info[CONF_HOST],
                CONF_PORT: discovery_info[CONF_PORT],
            }
        )
        self._discovery_info = discovery_info
        self.context["title_placeholders"] = {"name": _discovery_name(discovery_info)}
        return await self.async_step_discovery_confirm()

    async def async_step_discovery_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask only for the password of a discovered charger."""
        errors: dict[str, str] = {}
        info = self._discovery_info
        if user_input is not None:
            result = await self._async_login(
                info[CONF_SERIAL],
                user_input[CONF_PASSWORD],
                (info[CONF_HOST], info[CONF_PORT]),
                errors,
            )
            if result is not None:
                return result
        return self.async_show_form(
            step_id="discovery_confirm",
            data_schema=vol.Schema({vol.Required(CONF_PASSWORD): PASSWORD_SELECTOR}),
            description_placeholders={
                "name": _discovery_name(info),
                "serial": info[CONF_SERIAL],
                "host": info[CONF_HOST],
            },
            errors=errors,
        )

    # --- reauth / reconfigure ---------------------------------------------------

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """The charger refused the stored password."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the new password."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**entry.data, CONF_PASSWORD: user_input[CONF_PASSWORD]}
            if await self._async_check(data, errors):
                return self.async_update_reload_and_abort(
                    entry, data_updates={CONF_PASSWORD: user_input[CONF_PASSWORD]}
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema({vol.Required(CONF_PASSWORD): PASSWORD_SELECTOR}),
            description_placeholders={"name": entry.title},
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the password or pin the charger's IP address."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            static_host = (user_input.get(CONF_STATIC_HOST) or "").strip() or None
            if static_host is not None and not _is_ipv4(static_host):
                errors[CONF_STATIC_HOST] = "invalid_host"
            else:
                # An empty password keeps the stored one (only the IP changes).
                password = user_input.get(CONF_PASSWORD) or entry.data[CONF_PASSWORD]
                updates = {CONF_PASSWORD: password, CONF_STATIC_HOST: static_host}
                if await self._async_check({**entry.data, **updates}, errors):
                    return self.async_update_reload_and_abort(
                        entry, data_updates=updates
                    )
        schema = vol.Schema(
            {
                vol.Optional(CONF_PASSWORD): PASSWORD_SELECTOR,
                vol.Optional(CONF_STATIC_HOST): TextSelector(),
            }
        )
        shown_host = (
            user_input.get(CONF_STATIC_HOST, "")
            if user_input is not None
            else entry.data.get(CONF_STATIC_HOST) or ""
        )
        suggested = {CONF_STATIC_HOST: shown_host}
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            description_placeholders={"name": entry.title},
            errors=errors,
        )

    # --- shared ------------------------------------------------------------------

    async def _async_check(
        self, data: Mapping[str, Any], errors: dict[str, str]
    ) -> bool:
        """Log in with changed entry data; fill ``errors`` when that fails."""
        result = await self._async_try(
            data[CONF_SERIAL], data[CONF_PASSWORD], entry_address(data), errors
        )
        return result is not None

    async def _async_login(
        self,
        serial: str,
        password: str,
        address: Address | None,
        errors: dict[str, str],
    ) -> ConfigFlowResult | None:
        """Log in; create the entry on success, else fill ``errors``."""
        if address is None:
            errors["base"] = "cannot_connect"
            return None
        result = await self._async_try(serial, password, address, errors)
        if result is None:
            return None
        state, nickname = result
        host, port = state.address or address
        return self.async_create_entry(
            title=self._title(state, nickname),
            data={
                CONF_SERIAL: serial,
                CONF_PASSWORD: password,
                CONF_HOST: host,
                CONF_PORT: port,
            },
        )

    def _title(self, state: ChargerState, nickname: str) -> str:
        """The nickname, else brand and model; unique among configured chargers."""
        info = state.info
        product = f"{info.brand} {info.model}".strip() if info else ""
        title = nickname or product or f"EVSE {state.serial}"
        taken = {entry.title for entry in self._async_current_entries()}
        if title in taken:
            title = f"{title} {state.serial[-4:]}"
        return title

    async def _async_try(
        self,
        serial: str,
        password: str,
        address: Address | None,
        errors: dict[str, str],
    ) -> tuple[ChargerState, str] | None:
        """Really log in to the charger; returns its state and nickname."""
        try:
            password_field(password)
        except ValueError:
            errors[CONF_PASSWORD] = "invalid_password"
            return None
        hub = async_get_hub(self.hass)
        try:
            listener = await hub.async_acquire()
        except PortInUseError:
            errors["base"] = "port_in_use"
            return None
        charger = Charger(
            listener,
            serial,
            password,
            address=address,
            time_zone=dt_util.get_default_time_zone(),
            timings=const.CHARGER_TIMINGS,
        )
        try:
            await charger.connect(const.CONNECT_WAIT)
            nickname = ""
            with contextlib.suppress(EvseMasterError):
                nickname = await charger.read_nickname()
        except InvalidPasswordError:
            errors[CONF_PASSWORD] = "invalid_auth"
        except ChargerNotReachableError:
            errors["base"] = "cannot_connect"
        except Exception:
            LOGGER.exception("Unexpected error while connecting to %s", serial)
            errors["base"] = "unknown"
        else:
            return charger.state, nickname
        finally:
            await charger.close()
            hub.shared.release()
        return None


class EvseMasterOptionsFlow(OptionsFlowWithReload):
    """Choices of one charger; saving them reloads its entry."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the choices with their current values."""
        if user_input is not None:
            # The number selector answers 30.0; whole seconds are what it offers.
            relay = int(user_input[CONF_RELAY_PROTECTION])
            return self.async_create_entry(
                data={**user_input, CONF_RELAY_PROTECTION: relay}
            )
        low, high = RELAY_PROTECTION_RANGE
        schema = vol.Schema(
            {
                vol.Required(CONF_ACK_RECORDS): BooleanSelector(),
                vol.Required(CONF_RELAY_PROTECTION): NumberSelector(
                    NumberSelectorConfig(
                        min=low,
                        max=high,
                        step=1,
                        unit_of_measurement="s",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
                vol.Required(CONF_CURRENT_POLICY): SelectSelector(
                    SelectSelectorConfig(
                        options=list(CURRENT_POLICIES),
                        translation_key=CONF_CURRENT_POLICY,
                        mode=SelectSelectorMode.LIST,
                    )
                ),
            }
        )
        current = {
            CONF_ACK_RECORDS: False,
            CONF_RELAY_PROTECTION: min(
                high, max(low, const.CHARGER_TIMINGS.min_restart_interval)
            ),
            CONF_CURRENT_POLICY: POLICY_WAIT,
            **self.config_entry.options,
        }
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(schema, current),
        )


def _describe(found: DiscoveredCharger) -> str:
    """Its list label: brand and model if it announced them, serial and IP."""
    if found.info is None:  # heard only through the probe, which names nothing
        return f"{found.serial} · {found.address[0]}"
    return (
        f"{found.info.brand} {found.info.model} · {found.serial} · {found.address[0]}"
    )


def _discovery_name(info: Mapping[str, Any]) -> str:
    brand, model = info.get(CONF_BRAND), info.get(CONF_MODEL)
    if brand and model:
        return f"{brand} {model}"
    return f"EVSE Master {info[CONF_SERIAL]}"


def _is_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True
