"""Config validation against the workflow's JSON schema, with defaults and clear messages."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .io import UserError
from .kinds import KINDS, complete_schema

#: libyaml's safe loader where PyYAML was built with it (every wheel and conda-forge's build): the same data,
#: read ten times faster, which counts as Snakemake reads the schema at every parse and each stage at its start.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_schema(path: str | Path) -> dict[str, Any]:
    """The config schema in ``path``, its lists of pooling kinds filled in from :mod:`poolkit.kinds`."""
    return complete_schema(yaml.load(Path(path).read_text(encoding="utf-8"), Loader=SAFE_LOADER))


def fill_defaults(schema: Mapping[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """Insert every missing key that has a ``default`` in the schema (recursively)."""
    for key, sub in schema.get("properties", {}).items():
        if key not in config and "default" in sub:
            config[key] = copy.deepcopy(sub["default"])
        if isinstance(config.get(key), dict) and sub.get("type") == "object":
            fill_defaults(sub, config[key])
    return config


def _parse_text(text: str, node: Mapping[str, Any]) -> Any:
    """``text`` read as YAML when the schema wants something other than a string, else ``text``."""
    if node.get("type") in (None, "string"):
        return text
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text  # left as it is: validation then names the key and the type it wants


def coerce_text(schema: Mapping[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """Read text values as the type their schema entry wants (recursively, list items too).

    Snakemake's ``--config 'features={shards: 3}'`` hands every nested value over as text
    (``'3'``, ``['1', '2']``); here ``'3'`` becomes 3 and ``'[1, 2]'`` a list, while keys whose
    schema type is string keep their text.
    """
    for key, sub in schema.get("properties", {}).items():
        if key not in config:
            continue
        if isinstance(config[key], str):
            config[key] = _parse_text(config[key], sub)
        value = config[key]
        if isinstance(value, dict) and sub.get("type") == "object":
            coerce_text(sub, value)
        elif isinstance(value, list) and "items" in sub:
            config[key] = [_parse_text(v, sub["items"]) if isinstance(v, str) else v for v in value]
    return config


def _describe(error: jsonschema.ValidationError) -> str:
    key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties":
        keys = sorted(schema.get("properties", {}))
        return f"config: {error.message} under '{key}'; allowed keys: {', '.join(keys)}"
    if error.validator == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        return f"config key '{key}': {error.instance!r} is not allowed; allowed values: {allowed}"
    if error.validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        return f"config key '{key}': {error.message} ({schema.get('description', '')})"
    if error.validator == "type":
        return f"config key '{key}': {error.instance!r} is not of type {error.validator_value}"
    return f"config key '{key}': {error.message}"


def _cross_checks(config: Mapping[str, Any]) -> list[str]:
    problems = _run_checks(config["run"])
    inv = config["invariance"]
    for jitter in inv["jitters"]:
        if jitter >= inv["image_size"]:
            problems.append(
                f"config key 'invariance.jitters': jitter {jitter} is not smaller than "
                f"invariance.image_size {inv['image_size']}; allowed: 0 < jitter < image_size"
            )
    if config["exercise"]["jitter"] >= config["exercise"]["ring_size"]:
        problems.append("config key 'exercise.jitter': must be smaller than exercise.ring_size")
    net, size = inv["network"], config["features"]["image_size"]
    if net["resize_to"] <= size:
        problems.append(
            f"config key 'invariance.network.resize_to': {net['resize_to']} is not larger than "
            f"features.image_size {size}; the crop protocol crops image_size px from it at offsets "
            "0..resize_to − image_size − 1"
        )
    for shift in net["max_shifts"]:
        if shift >= size:
            problems.append(
                f"config key 'invariance.network.max_shifts': shift {shift} is not smaller than "
                f"features.image_size {size}"
            )
    from .worst_shift import crop_room_problem  # pandas and SciPy: only once a config is checked

    worst = net["worst_shift"]["max_shift"]
    crop_room = "crop" in net["protocols"] and net["resize_to"] > size  # else the check above names it
    if crop_room and (problem := crop_room_problem(worst, resize_to=net["resize_to"], crop=size)):
        problems.append(f"config key 'invariance.network.worst_shift.max_shift': {problem}")
    if worst > size // 2:
        problems.append(
            f"config key 'invariance.network.worst_shift.max_shift': {worst} is more than half of "
            f"features.image_size {size}: the rolls −s..s−1 would repeat"
        )
    min_side = 2 ** inv["max_depth"]
    if inv["image_size"] < min_side:
        problems.append(
            f"config key 'invariance.image_size': {inv['image_size']} is too small for {inv['max_depth']} "
            f"pooling steps (needs >= {min_side})"
        )
    even = [name for name in inv["poolings"] if KINDS[name].even_sides]
    if even and inv["image_size"] % min_side:
        problems.append(
            f"config key 'invariance.image_size': {inv['image_size']} is not divisible by 2^max_depth = {min_side}, "
            f"which {' and '.join(even)} pooling needs (every pooled side even); change invariance.image_size or "
            "invariance.max_depth"
        )
    if config["exercise"]["r_shrink"] >= config["exercise"]["ring_size"] // 2:
        problems.append("config key 'exercise.r_shrink': must be smaller than exercise.ring_size // 2")
    if inv["r_shrink"] >= inv["image_size"] // 2:
        problems.append("config key 'invariance.r_shrink': must be smaller than invariance.image_size // 2")
    return problems


def _run_checks(run: Mapping[str, Any]) -> list[str]:
    """The download cache must lie outside every folder of the run, which a rerun may rewrite."""
    cache = Path(run["cache"])
    run_folders = [Path(top) / run["name"] for top in ("results", "resources", "logs", "benchmarks")]
    if any(cache == folder or folder in cache.parents for folder in run_folders):
        return [
            f"config key 'run.cache': {cache} lies inside this run's folders (run.name {run['name']!r}); "
            "choose another run.name or cache folder"
        ]
    return []


#: Config keys renamed in a release: old dotted key → new dotted key (same meaning).
RENAMED_KEYS = {"invariance.depths": "invariance.max_depth"}
#: Config keys replaced by a different study in a release: old dotted key → what replaced it.
REPLACED_KEYS = {
    "invariance.vgg": "invariance.network (crop and circular protocols for every base variant; its keys differ: "
    "see config/README.md)"
}


def renamed_key_problems(config: Mapping[str, Any]) -> list[str]:
    """One ``ERROR:`` line per renamed key the config still uses, naming the new key."""
    problems = []
    changes = [(old, new, "renamed to '{}' (same meaning)") for old, new in RENAMED_KEYS.items()]
    changes += [(old, new, "replaced by {}") for old, new in REPLACED_KEYS.items()]
    for old, new, how in changes:
        *sections, key = old.split(".")
        node: Any = config
        for section in sections:
            node = node.get(section, {}) if isinstance(node, Mapping) else {}
        if isinstance(node, Mapping) and key in node:
            problems.append(f"ERROR: config key '{old}' was {how.format(new)}; change it in your config")
    return problems


def validate_config(config: Mapping[str, Any], schema_path: str | Path) -> dict[str, Any]:
    """Return ``config`` with defaults filled in, or raise listing every problem found."""
    renamed = renamed_key_problems(config)
    if renamed:
        raise UserError("\n".join(renamed))
    schema = load_schema(schema_path)
    filled = fill_defaults(schema, coerce_text(schema, copy.deepcopy(dict(config))))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(filled), key=lambda e: list(map(str, e.absolute_path)))
    problems = [_describe(e) for e in errors]
    if not problems:
        problems = _cross_checks(filled)
    if problems:
        raise UserError("invalid configuration:\n  " + "\n  ".join(problems))
    return filled


def local_input_problems(config: Mapping[str, Any]) -> list[str]:
    """``ERROR:`` lines for local inputs the config names but that are not there (a dataset
    folder, a weights file), checked when the workflow is read: a dry run shows them.
    Relative paths are taken from the working directory."""
    problems = []
    dataset, weights = config["dataset"], config["weights"]
    if dataset["source"] == "local":
        folder = dataset["local"]["path"]
        if not folder:
            problems.append(
                "ERROR: config key 'dataset.local.path' is empty but dataset.source is 'local'; "
                "set it to a folder in the Kaggle layout ({train,valid}/{Car,Truck}/*)"
            )
        elif not Path(folder).is_dir():
            problems.append(
                f"ERROR: config key 'dataset.local.path': folder {folder} does not exist or is not a folder "
                f"(dataset.source is 'local'); point it at a folder in the Kaggle layout, or change dataset.source"
            )
        else:
            problems += _layout_problems(folder)
    if weights["source"] == "path":
        file = weights["path"]
        if not file:
            problems.append(
                "ERROR: config key 'weights.path' is empty but weights.source is 'path'; "
                "set it to a VGG16 notop weights file (.h5 or .weights.h5)"
            )
        elif not Path(file).is_file():
            problems.append(
                f"ERROR: config key 'weights.path': file {file} does not exist or is not a file "
                f"(weights.source is 'path'); point it at a VGG16 notop weights file, or change weights.source"
            )
    return problems


def _layout_problems(folder: str) -> list[str]:
    """A local dataset folder not in the Kaggle layout, found before any job runs (so before Snakemake
    deletes the previous dataset to rebuild it)."""
    from .dataset import check_layout, find_dataset_root

    try:
        check_layout(find_dataset_root(folder))
    except UserError as error:
        return [f"ERROR: config key 'dataset.local.path': {error}"]
    return []


# --------------------------------------------------------------------------- documentation
KEYS_BEGIN = "<!-- keys: generated from workflow/schemas/config.schema.yaml by `make config-docs`; do not edit -->"
KEYS_END = "<!-- keys: end -->"


def _default_text(node: Mapping[str, Any]) -> str:
    if node.get("type") == "object" or "default" not in node:
        return ""
    value = node["default"]
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list):
        return "`[" + ", ".join(map(str, value)) + "]`"
    return f"`{value}`"


def _rows(node: Mapping[str, Any], prefix: str) -> list[str]:
    rows = []
    for key, sub in node.get("properties", {}).items():
        allowed = sub.get("enum") or sub.get("items", {}).get("enum")
        meaning = sub.get("description", "").replace("|", "\\|")
        if allowed and "`" not in meaning:
            meaning += f" (one of {', '.join(f'`{a}`' for a in allowed)})"
        rows.append(f"| `{prefix}{key}` | {_default_text(sub)} | {meaning} |")
        rows += _rows(sub, f"{prefix}{key}.")
    return rows


def schema_markdown(schema: Mapping[str, Any]) -> str:
    """The key tables of config/README.md: one section per top-level key, every key's default and meaning."""
    parts = [KEYS_BEGIN]
    for section, node in schema["properties"].items():
        parts += [
            "",
            f"## {section}",
            "",
            node.get("description", ""),
            "",
            "| key | default | meaning |",
            "| --- | --- | --- |",
            *_rows(node, f"{section}."),
        ]
    return "\n".join([*parts, "", KEYS_END])


def update_readme(readme: str, schema: Mapping[str, Any]) -> str:
    """``readme`` with its generated block (between the markers) replaced by the schema's tables."""
    if KEYS_BEGIN not in readme or KEYS_END not in readme:
        raise UserError(f"the README has no generated block (markers {KEYS_BEGIN!r} … {KEYS_END!r})")
    head, rest = readme.split(KEYS_BEGIN, 1)
    tail = rest.split(KEYS_END, 1)[1]
    return head + schema_markdown(schema) + tail
