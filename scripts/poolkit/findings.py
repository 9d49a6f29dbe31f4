"""The report's findings: plain sentences built from the results tables, every number with its
95% interval and a key (``data-finding`` in the page) that tests use to check it against the files."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .invariance import shown_jitter
from .kinds import KINDS, POOLINGS

#: The exercise's own words on global average pooling (the course's "Maximum Pooling" exercise).
GAP_CLAIM = (
    "The exercise says global average pooling is “very destructive” yet “often works quite well”, "
    "with far fewer parameters than Flatten."
)


@dataclass(frozen=True)
class Number:
    """A number shown in a finding, with the key that names where it comes from."""

    key: str
    text: str


@dataclass
class Finding:
    """One finding: text and numbers in reading order."""

    parts: list[str | Number] = field(default_factory=list)

    def add(self, *parts: str | Number) -> Finding:
        self.parts.extend(parts)
        return self


def percent(row: pd.Series | dict[str, Any], column: str) -> str:
    """A share in percent with its 95% interval: ``97.7 % [96.6, 98.5]``."""
    return f"{100 * row[column]:.1f} % [{100 * row[column + '_lo']:.1f}, {100 * row[column + '_hi']:.1f}]"


def is_exact(row: pd.Series | dict[str, Any]) -> bool:
    """Whether a summary row's values are exact (every shift of a synthetic input enumerated)."""
    return row.get("interval_method") == "exact"


def exact_count(row: pd.Series | dict[str, Any], column: str) -> str:
    """An exact share as a count of the enumerated shifts: ``36/49 = 73.5 %``."""
    n = int(row["n_shifts"])
    return f"{round(row[column] * n)}/{n} = {100 * row[column]:.1f} %"


def share(row: pd.Series | dict[str, Any], column: str) -> str:
    """A summary row's share: ``36/49 = 73.5 %`` where exact, else with its 95% interval (:func:`percent`)."""
    return exact_count(row, column) if is_exact(row) else percent(row, column)


def share_cell(row: pd.Series | dict[str, Any], column: str) -> str:
    """A share in a table whose header says percent: ``73.5 (36/49, exact)`` or ``14.1 [9.9, 16.8]``."""
    if is_exact(row):
        n = int(row["n_shifts"])
        return f"{100 * row[column]:.1f} ({round(row[column] * n)}/{n}, exact)"
    return f"{100 * row[column]:.1f} [{100 * row[column + '_lo']:.1f}, {100 * row[column + '_hi']:.1f}]"


def interval(value: float, low: float, high: float, digits: int = 3, signed: bool = False) -> str:
    """``0.750 [0.690, 0.810]`` (``+`` on positive values where ``signed``)."""
    sign = "+" if signed else ""
    return f"{value:{sign}.{digits}f} [{low:{sign}.{digits}f}, {high:{sign}.{digits}f}]"


def deepest_rows(summary: pd.DataFrame, input_name: str, jitter: int) -> pd.DataFrame:
    """Random-shift summary rows of one input at one jitter and the deepest depth, indexed by (fill, pooling)."""
    rows = summary[(summary["input"] == input_name) & (summary["mode"] == "random") & (summary["jitter"] == jitter)]
    return rows[rows["depth"] == rows["depth"].max()].set_index(["fill", "pooling"])


def caveat(weights_source: str, dataset_source: str) -> Finding | None:
    """First line where the run is a demonstration rather than the real experiment."""
    parts = []
    if dataset_source == "synthetic":
        parts.append("the embedded synthetic cars and trucks")
    if weights_source == "random":
        parts.append("randomly initialised VGG16 weights (not ImageNet)")
    if not parts:
        return None
    return Finding(
        [
            f"This run uses {' and '.join(parts)}: its numbers show what the workflow measures, "
            "not what a trained VGG16 does on the real Car or Truck photographs."
        ]
    )


def _pooling_list(
    rows: pd.DataFrame, fill: str, column: str, key: str, text: Callable[[pd.Series, str], str] = share
) -> list[str | Number]:
    parts: list[str | Number] = []
    poolings = [p for p in POOLINGS if (fill, p) in rows.index]
    for i, pooling in enumerate(poolings):
        parts += [f"{pooling} ", Number(f"{key}.{pooling}.{fill}", text(rows.loc[(fill, pooling)], column))]
        parts.append("; " if i < len(poolings) - 1 else ".")
    return parts


def _course_percent(row: pd.Series, column: str) -> str:
    return f"{100 * row[column.replace('_share', '_course_share')]:.1f} %"


def ring_findings(summary: pd.DataFrame, jitter: int) -> list[Finding]:
    """Identical outputs and unchanged global averages of the exercise's ring: exact shares (every
    shift enumerated, uniform and under the course's shift distribution) where the grid covers the
    jitter, else shares of random trials with Wilson intervals."""
    rows = deepest_rows(summary, "ring", jitter)
    if rows.empty:
        return []
    depth, n = int(summary["depth"].max()), int(rows["n_trials"].iloc[0])
    fill = "replicate" if "replicate" in rows.index.get_level_values(0) else rows.index[0][0]
    exact = bool((rows["interval_method"] == "exact").all()) if "interval_method" in rows else False
    if exact:
        shifts = int(rows["n_shifts"].iloc[0])
        opening = (
            f"The exercise's ring, shifted by each of the {shifts} integer shifts up to ±{jitter} px "
            f"(exact: every shift enumerated, {fill} fill): after {depth} pooling steps the output was identical "
            "to the unshifted one for — "
        )
    else:
        opening = (
            f"The exercise's ring, shifted at random by up to ±{jitter} px ({n:,} trials, {fill} fill): "
            f"after {depth} pooling steps the output was identical to the unshifted one in — "
        )
    identical = Finding([opening])
    identical.add(*_pooling_list(rows, fill, "identical_share", "ring.identical"))
    if exact:
        identical.add(
            f" Under the course's random_transform, whose shifts of ±{jitter} px are half as likely as the others: "
        )
        identical.add(*_pooling_list(rows, fill, "identical_share", "ring.identical_course", _course_percent))
    identical.add(" APS outputs are circular shifts of the unshifted one rather than identical copies.")
    gap = Finding([f"What a GAP head after those {depth} steps sees, the global average, was unchanged in — "])
    gap.add(*_pooling_list(rows, fill, "gap_equal_share", "ring.gap_equal"))
    gap.add(" Average pooling keeps the global mean exactly while the content stays inside the image.")
    return [identical, gap]


def circular_findings(summary: pd.DataFrame, jitter: int) -> list[Finding]:
    """What circular shifts change: grey validation images, APS and max pooling, wrap against replicate."""
    rows = deepest_rows(summary, "dataset", jitter)
    fills = set(rows.index.get_level_values(0)) if not rows.empty else set()
    if not {"wrap", "replicate"} <= fills or ("wrap", "aps") not in rows.index:
        return []
    depth = int(summary["depth"].max())
    images = f" {int(rows['n_images'].max())}" if "n_images" in rows else ""
    finding = Finding(
        [
            f"Circular shifts (up to ±{jitter} px) of grey validation images: APS kept the global average "
            f"after {depth} steps unchanged in "
        ]
    )
    finding.add(Number("dataset.gap_equal.aps.wrap", percent(rows.loc[("wrap", "aps")], "gap_equal_share")))
    finding.add(
        " of trials, against ",
        Number("dataset.gap_equal.aps.replicate", percent(rows.loc[("replicate", "aps")], "gap_equal_share")),
    )
    finding.add(" when the uncovered border is filled by edge replication")
    if ("wrap", "max") in rows.index:
        finding.add(
            "; max pooling: ",
            Number("dataset.gap_equal.max.wrap", percent(rows.loc[("wrap", "max")], "gap_equal_share")),
        )
        finding.add(" under circular shifts")
    finding.add(
        f" (intervals resample the{images} images: trials of one image are not independent)."
        " APS is exactly invariant only to circular shifts; the ring shows no difference between fills "
        "because it never touches the border."
    )
    return [finding]


ZHANG_CROP = (
    " Zhang (ICML 2019) measured, for VGG16 trained on ImageNet with each pooling (retrained, not swapped in): {}, "
    "on 224 px crops of 256 px images."
)
APS_CIRCULAR = "APS (Chaman & Dokmanić, CVPR 2021) guarantees 100 % under circular shifts, whatever the weights"


def zhang_crop(variants: list[str]) -> str:
    """Zhang's published VGG16 consistency of those ``variants`` that have one (:mod:`poolkit.kinds`),
    as a sentence; empty when none has."""
    published = [(KINDS[v].label, KINDS[v].zhang_vgg16) for v in variants]
    shown = [f"{label} {figures[1]:.1f} %" for label, figures in published if figures is not None]
    return ZHANG_CROP.format(", ".join(shown)) if shown else ""


def _consistency_numbers(rows: pd.DataFrame, protocol: str, max_shift: int) -> list[str | Number]:
    """``max 97.0 % [..], blur ...`` for one protocol and max shift, one entry per variant."""
    parts: list[str | Number] = []
    for i, (_, row) in enumerate(rows.iterrows()):
        parts += [", " if i else "", f"{row['variant']} "]
        parts.append(Number(f"network.{row['variant']}.{protocol}.{max_shift}", percent(row, "consistency")))
    return parts


def _against_max(differences: pd.DataFrame, protocol: str, max_shift: int) -> list[str | Number]:
    """`` Against max, on the same pairs: blur +4.0 points [..], higher; ...`` (nothing without rows)."""
    rows = differences[(differences["protocol"] == protocol) & (differences["max_shift"] == max_shift)]
    parts: list[str | Number] = [" Against the stock max pools, on the very same pairs: "] if len(rows) else []
    for i, row in enumerate(rows.itertuples()):
        value, low, high = (100 * v for v in (row.difference, row.difference_lo, row.difference_hi))
        verdict = "higher" if low > 0 else "lower" if high < 0 else "no clear difference"
        parts += ["; " if i else "", f"{row.variant} "]
        parts += [
            Number(f"network.difference.{row.variant}.{protocol}.{max_shift}", interval(value, low, high, 1, True))
        ]
        parts.append(f" points, {verdict}")
    return [*parts, "."] if parts else []


def network_findings(
    heads: pd.DataFrame, consistency: pd.DataFrame, differences: pd.DataFrame, random_weights: bool
) -> list[Finding]:
    """What swapping the pooling of the frozen VGG16 did to its refitted head: accuracy per variant,
    consistency at each protocol's widest max shift (the crop protocol's is Zhang's range), and each
    variant against max on the same pairs, in words."""
    if heads.empty or consistency.empty:
        return []
    found = [Finding(["Swapping the pooling of the frozen VGG16 (no retraining), each variant's refitted GAP head: "])]
    for i, row in enumerate(heads.itertuples()):
        found[0].add(", " if i else "", f"{row.variant} ")
        shown = interval(row.accuracy, row.accuracy_lo, row.accuracy_hi)
        found[0].add(Number(f"network.accuracy.{row.variant}", shown))
    found[0].add(" validation accuracy.")
    for protocol, rows in consistency.groupby("protocol", sort=False):
        widest = rows[rows["max_shift"] == rows["max_shift"].max()]
        shift, offset = int(widest["max_shift"].iloc[0]), int(widest["offset_max"].iloc[0])
        n_images, passes = int(widest["n_images"].iloc[0]), int(widest["n_pairs"].iloc[0] // widest["n_images"].iloc[0])
        where = f"offsets 0..{offset - 1}" if protocol == "crop" else f"rolls −{offset}..{offset - 1}"
        text = f"{protocol.capitalize()} protocol, {where} ({n_images} images × {passes} pairs), same class: "
        finding = Finding([text, *_consistency_numbers(widest, str(protocol), shift), "."])
        finding.add(*_against_max(differences, str(protocol), shift))
        if random_weights:
            finding.add(" The weights are random, so no published figure applies.")
        elif protocol == "crop":
            finding.add(zhang_crop(list(widest["variant"])))
        elif "aps_circular" in set(widest["variant"]):
            finding.add(" " + APS_CIRCULAR + ".")
        found.append(finding)
    return found


def worst_shift_findings(worst: pd.DataFrame) -> list[Finding]:
    """The worst shift, one finding per protocol: per variant, the share of images some shift fools and
    the share of shifts that change the class, with intervals; a variant never fooled gets the upper end
    of its interval (how far it may still be from never fooled)."""
    found = []
    for protocol, rows in worst.groupby("protocol", sort=False):
        s, n, shifts = (int(rows[c].iloc[0]) for c in ("max_shift", "n_images", "n_shifts"))
        where = "rolls" if protocol == "circular" else "moves of the centre crop"
        finding = Finding(
            [
                f"Worst shift, {protocol} protocol: every integer shift −{s}..{s - 1} px on both axes ({where}; "
                f"{n} images × {shifts} shifted copies), class changed against the unshifted copy — "
            ]
        )
        for i, row in enumerate(rows.to_dict("records")):
            variant, fooled = row["variant"], int(row["n_fooled"])
            finding.add("; " if i else "", f"{variant}: ")
            if fooled == 0:
                finding.add(f"never fooled, 0/{row['n_images']} images, ")
                finding.add(Number(f"worst.fooled.{variant}.{protocol}", percent(row, "fooled_share")))
                if variant == "aps_circular" and protocol == "circular":
                    finding.add(", as guaranteed: APS with circular padding is exactly invariant to circular shifts")
                    finding.add(", whatever the weights")
                else:
                    finding.add(f" (this sample does not rule out a share up to {100 * row['fooled_share_hi']:.1f} %)")
            else:
                finding.add(f"fooled on {fooled}/{row['n_images']} images, ")
                finding.add(Number(f"worst.fooled.{variant}.{protocol}", percent(row, "fooled_share")))
                finding.add(", by ", Number(f"worst.changed.{variant}.{protocol}", percent(row, "changed_share")))
                finding.add(" of the shifts")
        found.append(finding.add("."))
    return found


def _head(heads: pd.DataFrame, name: str, metric: str = "accuracy") -> Number:
    row = heads.set_index("model").loc[name]
    return Number(f"{metric}.{name}", interval(row[metric], row[f"{metric}_lo"], row[f"{metric}_hi"]))


def _verdict(row: pd.Series) -> str:
    if row["ci_low"] > 0:
        return "GAP higher"
    if row["ci_high"] < 0:
        return "GAP lower"
    return "no clear difference (the interval includes 0)"


def head_findings(heads: pd.DataFrame, differences: pd.DataFrame) -> list[Finding]:
    """GAP against GMP and Flatten heads with paired differences, and the baselines."""
    names = set(heads["model"])
    if not {"gap", "flatten", "gmp"} <= names:
        return []
    params = heads.set_index("model")["parameters"]
    compare = Finding(
        [
            GAP_CLAIM + " Here, validation accuracy: GAP ",
            _head(heads, "gap"),
            f" ({params['gap']:,} parameters), GMP ",
            _head(heads, "gmp"),
            f" ({params['gmp']:,}), Flatten ",
            _head(heads, "flatten"),
            f" ({params['flatten']:,}).",
        ]
    )
    for pair in ("gap - flatten", "gap - gmp"):
        rows = differences[differences["comparison"] == pair].set_index("metric")
        for metric, label in (("accuracy", "accuracy"), ("roc_auc", "ROC AUC")):
            row = rows.loc[metric]
            other = pair.split(" - ")[1]
            compare.add(f" GAP − {other.upper() if other == 'gmp' else other.capitalize()} {label}: ")
            compare.add(
                Number(
                    f"difference.{pair.replace(' - ', '-')}.{metric}",
                    interval(row["difference"], row["ci_low"], row["ci_high"], signed=True),
                )
            )
            compare.add(f", {_verdict(row)}.")
    baselines = Finding(
        [
            "Baselines on the same split: raw pixels ",
            _head(heads, "pixels"),
            ", the majority class ",
            _head(heads, "majority"),
            ".",
        ]
    )
    return [compare, baselines]


def run_summary(
    *,
    metrics: str | os.PathLike[str],
    summary_by_jitter: str | os.PathLike[str],
    variant_consistency: str | os.PathLike[str],
    report: str | os.PathLike[str],
    jitter: int,
) -> list[str]:
    """What a finished run prints: the headline numbers of the results files that exist (each
    naming its file) and the report's path; files a partial run did not make are left out."""
    lines = []
    if Path(metrics).is_file():
        m = json.loads(Path(metrics).read_text())
        accuracy = m["accuracy"]
        lines.append(
            f"GAP head accuracy {interval(accuracy['value'], accuracy['ci_low'], accuracy['ci_high'])} "
            f"on {m['n_valid']:,} validation images ({metrics})"
        )
    if Path(summary_by_jitter).is_file():
        summary = pd.read_csv(summary_by_jitter, sep="\t")
        random = summary[summary["mode"] == "random"]
        shown = shown_jitter(summary, jitter) if not random.empty else jitter
        rows = deepest_rows(summary, "ring", shown)
        fill = "replicate" if "replicate" in rows.index.get_level_values(0) else None
        if fill and (fill, "max") in rows.index:
            row = rows.loc[(fill, "max")]
            found = (
                f"{exact_count(row, 'identical_share')} of shifts (exact: every shift enumerated; "
                f"{_course_percent(row, 'identical_share')} under the course's shift distribution)"
                if is_exact(row)
                else f"{percent(row, 'identical_share')} of trials"
            )
            lines.append(
                f"Exercise ring shifted by up to ±{shown} px, after {int(summary['depth'].max())} max pools: "
                f"output identical in {found} ({summary_by_jitter})"
            )
    if Path(variant_consistency).is_file():
        table = pd.read_csv(variant_consistency, sep="\t")
        for protocol, rows in table.groupby("protocol", sort=False):
            widest = rows[rows["max_shift"] == rows["max_shift"].max()]
            values = ", ".join(f"{r['variant']} {percent(r, 'consistency')}" for _, r in widest.iterrows())
            lines.append(
                f"Same class for two copies, {protocol} protocol, max shift {int(widest['max_shift'].iloc[0])} px: "
                f"{values} ({variant_consistency})"
            )
    if Path(report).is_file():
        lines.append(f"Report: {report}")
    return lines
