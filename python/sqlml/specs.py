"""Model specs (``models/<kind>.json``) and the ``options`` a caller may override.

A spec is the version-controlled description of a model kind: its input
contract, its architecture, the default value of every option, and its
``limits``: input size, training time, and ``limits.options``, the bounds of every
numeric option (``{"min": .., "max": ..}``; a list option also has ``max_length``
and bounds each element). A caller's options are checked against them before any
training starts, so a typo or a hostile value (``1e8`` epochs, ``NaN``) is a
parameter error naming the option, not hours of work or a raw Python error.
``sqlml deploy`` loads the files into ``models.specs``, the training procedures
pass the spec to Python, and the registry keeps the resolved spec (defaults plus
the caller's options) with every version.
"""

from __future__ import annotations

import json
import math
from typing import Any

from sqlml.errors import InputError


def parse_json(text: str | dict | None, what: str) -> dict:
    if text is None or (isinstance(text, str) and not text.strip()):
        return {}
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} is not valid JSON: {exc.msg} at character {exc.pos}") from exc
    if not isinstance(value, dict):
        raise InputError(f"{what} must be a JSON object, like {{\"epochs\": 20}}")
    return value


def _coerce(name: str, value: Any, default: Any, what: str) -> Any:
    """The caller's value, checked against the type of the spec's default."""
    expected = type(default)
    bad = InputError(
        f"option {name!r} of {what} must be {_describe(default)}; got {json.dumps(value)}"
    )
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"option {name!r} of {what} must be a finite number; "
                         f"got {json.dumps(value)}")
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise bad
        if int(value) < 0:
            raise bad
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise bad
        return float(value)
    if isinstance(default, list):
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
        ):
            raise bad
        return list(value)
    if not isinstance(value, expected):
        raise bad
    return value


def _describe(default: Any) -> str:
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, int):
        return "a non-negative integer"
    if isinstance(default, float):
        return "a non-negative number"
    if isinstance(default, list):
        return "a list of positive integers"
    return f"a {type(default).__name__}"


def resolve_options(spec: dict, options: str | dict | None, what: str) -> dict:
    """The spec's defaults with the caller's options applied; unknown keys are errors."""
    defaults = spec["options"]
    given = parse_json(options, f"options of {what}")
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise InputError(
            f"unknown option {unknown[0]!r} for {what}; known options: "
            + ", ".join(sorted(defaults))
        )
    resolved = dict(defaults)
    for name, value in given.items():
        resolved[name] = _coerce(name, value, defaults[name], what)
    bounds = spec.get("limits", {}).get("options", {})
    for name, value in resolved.items():
        if name in bounds:
            check_bounds(name, value, bounds[name], what)
    return resolved


def check_bounds(name: str, value: Any, bound: dict, what: str) -> None:
    """``value`` within the spec's ``limits.options[name]``, or an error naming both."""
    low, high = bound.get("min", -math.inf), bound.get("max", math.inf)
    if isinstance(value, list):
        longest = bound.get("max_length")
        if longest is not None and len(value) > longest:
            raise InputError(f"option {name!r} of {what} has {len(value)} element(s); "
                             f"at most {longest} allowed (limits.options in the spec)")
        values = value
    else:
        values = [value]
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float):
            continue
        if not low <= v <= high:
            raise InputError(f"option {name!r} of {what} must be between {low} and {high} "
                             f"(limits.options in the spec); got {json.dumps(v)}")
