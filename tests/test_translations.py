"""Translations: every language mirrors en.json, and en.json covers the code.

The checks on en.json read the integration's source with ``ast`` (translation
keys, config flow errors and aborts) and import the platform modules for what
only exists at runtime (generated entity descriptions, enum options).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
import importlib
import json
from pathlib import Path
import re
from typing import Any

from homeassistant.components.sensor import SensorEntityDescription
from homeassistant.helpers.entity import EntityDescription
from homeassistant.util.yaml import load_yaml_dict
import pytest

from custom_components.evse_master import (
    config_flow,
    const,
    faults,
    select as select_platform,
)
from custom_components.evse_master.protocol.errors import Refusal

PACKAGE = "custom_components.evse_master"
COMPONENT = Path(__file__).resolve().parent.parent / "custom_components" / "evse_master"
TRANSLATIONS = COMPONENT / "translations"

EXPECTED_LANGUAGES = ("de", "es", "fr", "it", "nl", "pl")
LANGUAGES = sorted(
    path.stem for path in TRANSLATIONS.glob("*.json") if path.stem != "en"
)
ALL_LANGUAGES = ["en", *LANGUAGES]

PLATFORMS = (
    "binary_sensor",
    "button",
    "event",
    "number",
    "select",
    "sensor",
    "switch",
    "text",
)
EXCEPTION_TYPES = frozenset(
    {
        "HomeAssistantError",
        "ServiceValidationError",
        "UpdateFailed",
        "ConfigEntryNotReady",
        "ConfigEntryAuthFailed",
        "ConfigEntryError",
    }
)
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
RUNTIME_KEYS: dict[tuple[str, str], set[str]] = {
    # Fault issues are created in a loop over the groups of the active faults.
    ("faults", "key"): {*faults.FAULT_GROUPS, faults.OTHER_FAULTS},
}
"""Names whose translation keys only exist at runtime: (module, name) -> keys."""

per_language = pytest.mark.parametrize("language", LANGUAGES, ids=LANGUAGES)
every_language = pytest.mark.parametrize("language", ALL_LANGUAGES, ids=ALL_LANGUAGES)


# --- translation files -----------------------------------------------------------


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"duplicate keys {duplicates}")
    return dict(pairs)


def _load_json(path: Path) -> dict[str, Any]:
    data = json.loads(
        path.read_text(encoding="utf-8"), object_pairs_hook=_reject_duplicates
    )
    assert isinstance(data, dict), f"{path.name}: top level is not an object"
    return data


@cache
def _translations(language: str) -> dict[str, Any]:
    return _load_json(TRANSLATIONS / f"{language}.json")


def _flatten(node: Mapping[str, Any], prefix: str = "") -> dict[str, object]:
    """Map every leaf's dotted key path to its value (an empty object is a leaf)."""
    leaves: dict[str, object] = {}
    for key, value in node.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value:
            leaves.update(_flatten(value, path))
        else:
            leaves[path] = value
    return leaves


def _leaves(language: str) -> dict[str, object]:
    return _flatten(_translations(language))


def _placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def test_expected_languages_present() -> None:
    missing = sorted(set(EXPECTED_LANGUAGES) - set(LANGUAGES))
    assert not missing, f"missing translation files: {missing}"


@every_language
def test_valid_json(language: str) -> None:
    assert _translations(language)


@per_language
def test_same_keys_as_english(language: str) -> None:
    english = set(_leaves("en"))
    translated = set(_leaves(language))
    differences = [f"missing {path}" for path in sorted(english - translated)]
    differences += [f"extra {path}" for path in sorted(translated - english)]
    assert not differences, f"{language}.json differs from en.json: {differences}"


@per_language
def test_same_placeholders_as_english(language: str) -> None:
    translated = _leaves(language)
    differences = [
        f"{path}: en {sorted(_placeholders(text))}, "
        f"{language} {sorted(_placeholders(value))}"
        for path, text in _leaves("en").items()
        if isinstance(text, str)
        and isinstance(value := translated.get(path), str)
        and _placeholders(text) != _placeholders(value)
    ]
    assert not differences, "\n".join(differences)


@every_language
def test_no_empty_values(language: str) -> None:
    empty = [
        path
        for path, value in _leaves(language).items()
        if not isinstance(value, str) or not value.strip()
    ]
    assert not empty, f"{language}.json has empty or non-text values: {empty}"


# --- source scanning -------------------------------------------------------------

type Scopes = tuple[ast.Module | ast.FunctionDef | ast.AsyncFunctionDef, ...]


@cache
def _module_ast(name: str) -> ast.Module:
    """Parse ``custom_components/evse_master/<name>.py``."""
    path = COMPONENT / f"{name}.py"
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _source_modules() -> list[str]:
    return sorted(path.stem for path in COMPONENT.glob("*.py"))


def _calls(tree: ast.Module) -> Iterator[tuple[ast.Call, Scopes]]:
    """Every call with its enclosing scopes (module first, innermost last)."""

    def visit(node: ast.AST, scopes: Scopes) -> Iterator[tuple[ast.Call, Scopes]]:
        for child in ast.iter_child_nodes(node):
            inner = (
                (*scopes, child)
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
                else scopes
            )
            if isinstance(child, ast.Call):
                yield child, inner
            yield from visit(child, inner)

    yield from visit(tree, (tree,))


def _call_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def _assigned(
    scope: ast.Module | ast.FunctionDef | ast.AsyncFunctionDef, name: str
) -> Iterator[ast.expr]:
    """Values assigned to ``name`` in a scope (module: top-level statements only)."""
    nodes: Iterable[ast.AST] = (
        scope.body if isinstance(scope, ast.Module) else ast.walk(scope)
    )
    for node in nodes:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id == name:
                yield value
            elif isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
                for element, item in zip(target.elts, value.elts, strict=False):
                    if isinstance(element, ast.Name) and element.id == name:
                        yield item


def _imported_from(tree: ast.Module, name: str) -> str | None:
    """The sibling module ``name`` is imported from (``from .const import name``)."""
    for node in tree.body:
        if (
            isinstance(node, ast.ImportFrom)
            and node.level == 1
            and node.module
            and any((alias.asname or alias.name) == name for alias in node.names)
        ):
            return node.module
    return None


@dataclass
class _Resolver:
    """Every string an expression can evaluate to, following simple assignments."""

    module: str
    scopes: Scopes
    line: int
    seen: set[tuple[str, str]] = field(default_factory=set)

    def strings(self, node: ast.expr) -> set[str]:
        match node:
            case ast.Constant(value=str() as value):
                return {value}
            case ast.IfExp(body=body, orelse=orelse):
                return self.strings(body) | self.strings(orelse)
            case ast.BoolOp(values=values):
                return self._union(values)
            case ast.Dict(values=values):
                return self._union(values)
            case ast.Call(
                func=ast.Attribute(value=mapping, attr="get"), args=[_, default]
            ):
                return self.strings(mapping) | self.strings(default)
            case ast.Name(id=name):
                return self.name(name)
            case ast.Attribute(attr="reason"):
                # InvalidValueError.reason: every refusal the protocol names.
                return {str(refusal) for refusal in Refusal}
        raise AssertionError(
            f"{self.module}.py:{self.line}: cannot resolve {ast.unparse(node)!r} "
            "to translation keys; extend tests/test_translations.py"
        )

    def _union(self, nodes: Iterable[ast.expr | None]) -> set[str]:
        found: set[str] = set()
        for node in nodes:
            if node is not None:
                found |= self.strings(node)
        return found

    def name(self, name: str) -> set[str]:
        if (self.module, name) in RUNTIME_KEYS:
            return RUNTIME_KEYS[self.module, name]
        if (self.module, name) in self.seen:
            return set()
        self.seen.add((self.module, name))
        for scope in reversed(self.scopes):
            values = list(_assigned(scope, name))
            if values:
                return self._union(values)
        source = _imported_from(_module_ast(self.module), name)
        if source is not None and (COMPONENT / f"{source}.py").exists():
            tree = _module_ast(source)
            imported = _Resolver(source, (tree,), self.line, self.seen)
            return imported.name(name)
        raise AssertionError(
            f"{self.module}.py:{self.line}: cannot find the value of {name!r}"
        )


def _resolve(module: str, scopes: Scopes, node: ast.expr) -> set[str]:
    return _Resolver(module, scopes, getattr(node, "lineno", 0)).strings(node)


def _fstring_pattern(node: ast.JoinedStr) -> re.Pattern[str]:
    return re.compile(
        "".join(
            re.escape(part.value)
            if isinstance(part, ast.Constant) and isinstance(part.value, str)
            else ".+"
            for part in node.values
        )
    )


@dataclass
class _KeyUsage:
    """Translation keys the code uses, by where en.json must hold them."""

    entity: set[tuple[str, str]] = field(default_factory=set)
    entity_patterns: set[tuple[str, str, re.Pattern[str]]] = field(default_factory=set)
    exceptions: set[str] = field(default_factory=set)
    issues: set[str] = field(default_factory=set)
    unclassified: list[str] = field(default_factory=list)


@cache
def _key_usage() -> _KeyUsage:
    usage = _KeyUsage()
    for module in _source_modules():
        tree = _module_ast(module)
        for call, scopes in _calls(tree):
            value = _keyword(call, "translation_key")
            if value is None:
                continue
            name = _call_name(call)
            if name == "async_create_issue":
                usage.issues |= _resolve(module, scopes, value)
            elif name in EXCEPTION_TYPES or _keyword(call, "translation_domain"):
                usage.exceptions |= _resolve(module, scopes, value)
            elif module in PLATFORMS and name.endswith("Description"):
                if isinstance(value, ast.JoinedStr):
                    pattern = _fstring_pattern(value)
                    source = f"{module}.py:{call.lineno} {ast.unparse(value)}"
                    usage.entity_patterns.add((module, source, pattern))
                else:
                    usage.entity |= {
                        (module, key) for key in _resolve(module, scopes, value)
                    }
            elif name.endswith("SelectorConfig"):
                continue  # selector keys: test_selector_options_in_english
            else:
                usage.unclassified.append(f"{module}.py:{call.lineno} {name}()")
        if module in PLATFORMS:
            # Entities may also set the key as a class attribute.
            for value in _attr_translation_keys(tree):
                usage.entity |= {
                    (module, key) for key in _resolve(module, (tree,), value)
                }
    return usage


def _attr_translation_keys(tree: ast.Module) -> Iterator[ast.expr]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(
            isinstance(target, ast.Name) and target.id == "_attr_translation_key"
            for target in targets
        ):
            yield value


def _runtime_descriptions(platform: str) -> list[EntityDescription]:
    """Entity descriptions a platform module holds, including generated ones."""
    module = importlib.import_module(f"{PACKAGE}.{platform}")
    found: list[EntityDescription] = []
    for value in vars(module).values():
        items = value if isinstance(value, tuple | list) else (value,)
        found.extend(item for item in items if isinstance(item, EntityDescription))
    return found


def _enum_options() -> dict[str, list[str]]:
    """Options of every enum entity, as ``platform.translation_key``."""
    sources: dict[str, list[str]] = {}
    for description in _runtime_descriptions("sensor"):
        if (
            isinstance(description, SensorEntityDescription)
            and description.translation_key
            and description.options
        ):
            sources[f"sensor.{description.translation_key}"] = list(description.options)
    for select in select_platform.SELECTS:
        assert select.translation_key, f"select {select.key} has no translation key"
        sources[f"select.{select.translation_key}"] = [
            member.name.lower() for member in select.enum
        ]
    return sources


ENUM_OPTIONS = _enum_options()


def _english_section(*path: str) -> dict[str, Any]:
    node: Any = _translations("en")
    for key in path:
        node = node.get(key, {}) if isinstance(node, dict) else {}
    return node if isinstance(node, dict) else {}


# --- en.json covers the code -----------------------------------------------------


def test_source_scan_is_complete() -> None:
    usage = _key_usage()
    assert usage.entity, "no entity translation keys found"
    assert usage.exceptions, "no exception translation keys found"
    assert not usage.unclassified, (
        "translation_key used where the test cannot tell the en.json section: "
        f"{usage.unclassified}"
    )


def test_entity_keys_in_english() -> None:
    usage = _key_usage()
    used = set(usage.entity)
    for platform in PLATFORMS:
        used |= {
            (platform, description.translation_key)
            for description in _runtime_descriptions(platform)
            if description.translation_key
        }
    entity = _english_section("entity")
    missing = sorted(
        f"entity.{platform}.{key}"
        for platform, key in used
        if key not in entity.get(platform, {})
    )
    unmatched = sorted(
        f"{source} (entity.{platform})"
        for platform, source, pattern in usage.entity_patterns
        if not any(pattern.fullmatch(key) for key in entity.get(platform, {}))
    )
    assert not missing, f"en.json lacks {missing}"
    assert not unmatched, f"no en.json key matches {unmatched}"


def test_enum_sources_found() -> None:
    assert {
        "sensor.charger_state",
        "sensor.fault",
        "select.language",
        "select.temperature_unit",
        "select.start_mode",
    } <= set(ENUM_OPTIONS)


@pytest.mark.parametrize("entity", sorted(ENUM_OPTIONS), ids=sorted(ENUM_OPTIONS))
def test_enum_states_in_english(entity: str) -> None:
    platform, key = entity.split(".")
    states = _english_section("entity", platform, key, "state")
    missing = [
        f"entity.{entity}.state.{option}"
        for option in ENUM_OPTIONS[entity]
        if option not in states
    ]
    assert not missing, f"en.json lacks {missing}"


def test_exception_keys_in_english() -> None:
    exceptions = _english_section("exceptions")
    missing = sorted(
        f"exceptions.{key}.message"
        for key in _key_usage().exceptions
        if "message" not in exceptions.get(key, {})
    )
    assert not missing, f"en.json lacks {missing}"


def test_issue_keys_in_english() -> None:
    issues = _english_section("issues")
    missing = sorted(
        f"issues.{key}.{part}"
        for key in _key_usage().issues
        for part in ("title", "description")
        if part not in issues.get(key, {})
    )
    assert not missing, f"en.json lacks {missing}"


# --- config flow -----------------------------------------------------------------


@dataclass
class _FlowUsage:
    errors: set[str] = field(default_factory=set)
    aborts: set[str] = field(default_factory=set)
    steps: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    """(Flow section: "config" or "options", step id) → placeholders the form
    provides."""
    selectors: set[str] = field(default_factory=set)
    """Translation keys of the selectors the forms use."""


def _implicit_abort(call: ast.Call, scopes: Scopes) -> str | None:
    """The reason a ConfigFlow helper aborts with when none is given."""
    name = _call_name(call)
    if name == "_abort_if_unique_id_configured":
        return "already_configured"
    if name == "_abort_if_unique_id_mismatch":
        return "unique_id_mismatch"
    if name == "async_set_unique_id":
        raise_on_progress = _keyword(call, "raise_on_progress")
        if isinstance(raise_on_progress, ast.Constant) and not raise_on_progress.value:
            return None
        return "already_in_progress"
    if name == "async_update_reload_and_abort":
        function = scopes[-1]
        step = "" if isinstance(function, ast.Module) else function.name
        if "reauth" in step:
            return "reauth_successful"
        if "reconfigure" in step:
            return "reconfigure_successful"
        raise AssertionError(
            f"config_flow.py:{call.lineno}: {name}() needs reason= outside "
            "a reauth or reconfigure step"
        )
    return None


@cache
def _flow_usage() -> _FlowUsage:
    usage = _FlowUsage()
    tree = _module_ast("config_flow")
    for node in ast.walk(tree):
        # errors[...] = "…"
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Subscript)
            and isinstance(target.value, ast.Name)
            and target.value.id == "errors"
            for target in node.targets
        ):
            usage.errors |= _resolve("config_flow", (tree,), node.value)
    for call, scopes in _calls(tree):
        name = _call_name(call)
        errors = _keyword(call, "errors")
        if isinstance(errors, ast.Dict):
            usage.errors |= _resolve("config_flow", scopes, errors)
        reason = _keyword(call, "reason")
        if reason is not None and "abort" in name:
            usage.aborts |= _resolve("config_flow", scopes, reason)
        elif (implicit := _implicit_abort(call, scopes)) is not None:
            usage.aborts.add(implicit)
        step_id = _keyword(call, "step_id")
        if name == "async_show_form" and step_id is not None:
            placeholders = _keyword(call, "description_placeholders")
            provided = (
                {
                    key.value
                    for key in placeholders.keys
                    if isinstance(key, ast.Constant) and isinstance(key.value, str)
                }
                if isinstance(placeholders, ast.Dict)
                else set()
            )
            section = _flow_section(tree, call)
            for step in _resolve("config_flow", scopes, step_id):
                usage.steps.setdefault((section, step), provided)
                usage.steps[section, step] &= provided
        if name.endswith("SelectorConfig"):
            key = _keyword(call, "translation_key")
            if key is not None:
                usage.selectors |= _resolve("config_flow", scopes, key)
    return usage


def _flow_section(tree: ast.Module, call: ast.Call) -> str:
    """ "options" for a form of the options flow class, else "config"."""
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(
            inner is call for inner in ast.walk(node)
        ):
            bases = [ast.unparse(base) for base in node.bases]
            return (
                "options" if any("OptionsFlow" in base for base in bases) else "config"
            )
    return "config"


def test_config_flow_scan_found_keys() -> None:
    usage = _flow_usage()
    assert usage.errors, "no config flow errors found"
    assert usage.aborts, "no config flow aborts found"
    assert usage.steps, "no config flow steps found"


def test_config_flow_errors_in_english() -> None:
    errors = _english_section("config", "error")
    missing = sorted(
        f"config.error.{key}" for key in _flow_usage().errors if key not in errors
    )
    assert not missing, f"en.json lacks {missing}"


def test_config_flow_aborts_in_english() -> None:
    aborts = _english_section("config", "abort")
    missing = sorted(
        f"config.abort.{key}" for key in _flow_usage().aborts if key not in aborts
    )
    assert not missing, f"en.json lacks {missing}"


def test_config_flow_steps_in_english() -> None:
    problems: list[str] = []
    for (section, step), provided in sorted(_flow_usage().steps.items()):
        steps = _english_section(section, "step")
        if step not in steps:
            problems.append(f"en.json lacks {section}.step.{step}")
            continue
        for part in ("title", "description"):
            text = steps[step].get(part, "")
            if unknown := sorted(_placeholders(text) - provided):
                problems.append(
                    f"{section}.step.{step}.{part} uses {unknown}, "
                    f"the form provides {sorted(provided)}"
                )
    assert not problems, "\n".join(problems)


def test_options_flow_found() -> None:
    assert ("options", "init") in _flow_usage().steps


def test_options_fields_in_english() -> None:
    """Every option the flow asks for has a label and a description."""
    step = _english_section("options", "step", "init")
    options = (
        const.CONF_ACK_RECORDS,
        const.CONF_RELAY_PROTECTION,
        const.CONF_CURRENT_POLICY,
    )
    missing = [
        f"options.step.init.{part}.{option}"
        for option in options
        for part in ("data", "data_description")
        if option not in step.get(part, {})
    ]
    assert not missing, f"en.json lacks {missing}"


SELECTOR_OPTIONS = {
    "current_policy": sorted(const.CURRENT_POLICIES),
    # The user step lists discovered chargers by label; only this one is text.
    "charger": [config_flow.MANUAL_ENTRY],
}
"""Translated options of every selector the flows use."""


def test_selector_options_in_english() -> None:
    assert _flow_usage().selectors == set(SELECTOR_OPTIONS)
    for key, expected in SELECTOR_OPTIONS.items():
        options = _english_section("selector", key, "options")
        assert sorted(options) == expected, key


def test_services_in_english() -> None:
    """services.yaml and en.json name the same actions and fields."""
    declared = load_yaml_dict(COMPONENT / "services.yaml")
    services = _english_section("services")
    assert sorted(services) == sorted(declared)
    for service, spec in declared.items():
        assert {"name", "description"} <= services[service].keys(), service
        fields = services[service].get("fields", {})
        assert sorted(fields) == sorted(spec.get("fields", {})), service
        for name, text in fields.items():
            assert {"name", "description"} <= text.keys(), f"{service}.{name}"


def test_service_icons() -> None:
    declared = load_yaml_dict(COMPONENT / "services.yaml")
    icons = _load_json(COMPONENT / "icons.json").get("services", {})
    assert sorted(icons) == sorted(declared)


# --- icons.json --------------------------------------------------------------------


def test_icons_in_english() -> None:
    icons = _load_json(COMPONENT / "icons.json")
    entity = _english_section("entity")
    problems: list[str] = []
    for platform, entities in icons.get("entity", {}).items():
        for key, icon in entities.items():
            translated = entity.get(platform, {}).get(key)
            if translated is None:
                problems.append(f"entity.{platform}.{key}")
            elif "state" in translated:
                problems.extend(
                    f"entity.{platform}.{key}.state.{state}"
                    for state in icon.get("state", {})
                    if state not in translated["state"]
                )
    assert not problems, f"icons.json has keys en.json lacks: {problems}"
