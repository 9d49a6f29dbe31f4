"""Config validation against the workflow's JSON schema, with defaults and clear messages."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .io import WorkflowError


def fill_defaults(schema: Mapping[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """Insert every missing key that has a ``default`` in the schema (recursively)."""
    for key, sub in schema.get("properties", {}).items():
        if key not in config and "default" in sub:
            config[key] = copy.deepcopy(sub["default"])
        if isinstance(config.get(key), dict) and sub.get("type") == "object":
            fill_defaults(sub, config[key])
    return config


def _describe(error: jsonschema.ValidationError) -> str:
    key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        return f"config: {error.message} under '{key}'; allowed keys: {', '.join(allowed)}"
    if error.validator == "enum":
        return f"config key '{key}': {error.instance!r} is not allowed; allowed values: {', '.join(map(str, error.validator_value))}"
    if error.validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        return f"config key '{key}': {error.message} ({schema.get('description', '')})"
    if error.validator == "type":
        return f"config key '{key}': {error.instance!r} is not of type {error.validator_value}"
    return f"config key '{key}': {error.message}"


def _cross_checks(config: Mapping[str, Any]) -> list[str]:
    problems = []
    inv = config["invariance"]
    for jitter in inv["jitters"]:
        if jitter >= inv["image_size"]:
            problems.append(
                f"config key 'invariance.jitters': jitter {jitter} is not smaller than "
                f"invariance.image_size {inv['image_size']}; allowed: 0 < jitter < image_size"
            )
    if config["exercise"]["jitter"] >= config["exercise"]["ring_size"]:
        problems.append("config key 'exercise.jitter': must be smaller than exercise.ring_size")
    for shift in inv["vgg"]["shifts"]:
        if shift >= config["features"]["image_size"]:
            problems.append(
                f"config key 'invariance.vgg.shifts': shift {shift} is not smaller than "
                f"features.image_size {config['features']['image_size']}"
            )
    min_side = 2 ** inv["depths"]
    if inv["image_size"] < min_side:
        problems.append(
            f"config key 'invariance.image_size': {inv['image_size']} is too small for {inv['depths']} pooling steps (needs >= {min_side})"
        )
    if config["exercise"]["r_shrink"] >= config["exercise"]["ring_size"] // 2:
        problems.append("config key 'exercise.r_shrink': must be smaller than exercise.ring_size // 2")
    if inv["r_shrink"] >= inv["image_size"] // 2:
        problems.append("config key 'invariance.r_shrink': must be smaller than invariance.image_size // 2")
    return problems


def validate_config(config: Mapping[str, Any], schema_path: str | Path) -> dict[str, Any]:
    """Return ``config`` with defaults filled in, or raise listing every problem found."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    filled = fill_defaults(schema, copy.deepcopy(dict(config)))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(filled), key=lambda e: list(map(str, e.absolute_path)))
    problems = [_describe(e) for e in errors]
    if not problems:
        problems = _cross_checks(filled)
    if problems:
        raise WorkflowError("invalid configuration:\n  " + "\n  ".join(problems))
    return filled
