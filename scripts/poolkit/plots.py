"""Every stage's figures, in one style; PNGs written atomically and reproducibly.

The style (theme, palette, each kind's colour, marker and line from :mod:`poolkit.kinds`) is set
here once; below it, one section of figure functions per stage, in the order data flows. A figure
function only draws: the stage modules compute what it shows."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from sklearn.metrics import roc_curve

from .io import atomic_path
from .kinds import KINDS

#: One colour per pooling kind (from :mod:`poolkit.kinds`) and per head, the same in every figure.
PALETTE = {
    **{name: kind.colour for name, kind in KINDS.items()},
    "gap": "#3274a1",
    "gmp": "#c03d3e",
    "flatten": "#e1812c",
    "pixels": "#7f7f7f",
    "majority": "#b8b8b8",
}


def kind_style(name: str) -> dict[str, Any]:
    """Colour, marker, line style and legend label of pooling kind ``name`` (:mod:`poolkit.kinds`), as
    Matplotlib keywords: lines lying on top of each other stay told apart."""
    kind = KINDS[name]
    return {"color": kind.colour, "marker": kind.marker, "linestyle": kind.line, "label": kind.label}


def setup() -> None:
    """Apply the workflow's plotting theme."""
    sns.set_theme(context="notebook", style="whitegrid", font_scale=0.95)
    plt.rc("image", cmap="magma")
    plt.rc("axes", titleweight="bold")


def save(fig: plt.Figure, path: str | os.PathLike[str]) -> None:
    """Save a figure as PNG (no timestamp metadata) and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


# --------------------------------------------------------------------------- the data stage's figure
def examples_figure(
    examples: Mapping[str, Sequence[np.ndarray]], *, per_class: int, size: int, resize: str, path: str
) -> None:
    """A row of up to ``per_class`` images per class (``examples``: class name → images), as the model sees them."""
    fig, axes = plt.subplots(
        len(examples), per_class, figsize=(1.9 * per_class, 2.2 * len(examples)), layout="constrained", squeeze=False
    )
    for row, (name, images) in enumerate(examples.items()):
        for col in range(per_class):
            ax = axes[row, col]
            ax.axis("off")
            if col < len(images):
                ax.imshow(images[col])
                ax.set_title(f"{name}", fontsize=9)
    fig.suptitle(f"Validation images as the model sees them ({size}×{size}, {resize})", fontweight="bold")
    save(fig, path)


# --------------------------------------------------------------------------- the exercise's figures
def condense_figure(steps: Mapping[str, np.ndarray], path: str) -> None:
    """The exercise's steps side by side (``steps``: title → image), the first (the input) in grey."""
    fig, axes = plt.subplots(1, len(steps), figsize=(14, 3.8), layout="constrained")
    for i, (ax, (title, img)) in enumerate(zip(axes, steps.items(), strict=True)):
        ax.imshow(img, cmap="gray" if i == 0 else None)
        ax.set_title(f"{title}\n{img.shape[0]}×{img.shape[1]} px")
        ax.axis("off")
    save(fig, path)


def ring_figure(shifts: Sequence[tuple[int, int]], rows: Sequence[Sequence[np.ndarray]], path: str) -> None:
    """A row per shift (dx, dy): the shifted ring, then each max pool of it."""
    n, width = len(rows), len(rows[0])
    fig, axes = plt.subplots(n, width, figsize=(2.6 * width, 3.0 * n), layout="constrained")
    for i, ((dx, dy), images) in enumerate(zip(shifts, rows, strict=True)):
        for k, image in enumerate(images):
            axes[i, k].imshow(image, vmin=0, vmax=1)
            step = f"shift ({dx:+d}, {dy:+d})" if k == 0 else f"MaxPool {k}"
            axes[i, k].set_title(f"{step}\n{image.shape[0]}×{image.shape[1]}")
        for ax in axes[i]:
            ax.axis("off")
    save(fig, path)


def gap_maps_figure(maps: np.ndarray, pooled: np.ndarray, path: str) -> None:
    """Each random map, and below them their averages (global average pooling), one value per map."""
    n = len(maps)
    fig = plt.figure(figsize=(2 * n, 3.6), layout="constrained")
    grid = fig.add_gridspec(2, n, height_ratios=[4, 1])
    for i in range(n):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(maps[i], vmin=0, vmax=1)
        ax.set_title(f"map {i + 1}")
        ax.axis("off")
    ax = fig.add_subplot(grid[1, :])
    ax.imshow(pooled[None, :], vmin=0, vmax=1, aspect="auto")
    for i, value in enumerate(pooled):
        ax.text(i, 0, f"{value:.2f}", ha="center", va="center", color="white" if value < 0.6 else "black")
    ax.set_title(f"GlobalAvgPool2D: one score per {maps.shape[1]}×{maps.shape[2]} map")
    ax.axis("off")
    save(fig, path)


# --------------------------------------------------------------------------- the invariance figures
def error_bars(rows: pd.DataFrame, column: str, scale: float = 100.0) -> list[np.ndarray]:
    """Lower and upper error-bar lengths of ``column`` (NaN, no bar, where the row is exact)."""
    exact = (rows["interval_method"] == "exact").to_numpy()
    low = np.where(exact, np.nan, scale * (rows[column] - rows[f"{column}_lo"]).to_numpy(float))
    high = np.where(exact, np.nan, scale * (rows[f"{column}_hi"] - rows[column]).to_numpy(float))
    return [low, high]


def fill_input_panels(
    frame: pd.DataFrame,
    draw: Callable[[plt.Axes, pd.DataFrame], None],
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    path: str,
    sharey: bool = False,
) -> None:
    """One panel per fill (rows) and input (columns) of ``frame``, each drawn by ``draw(ax, rows)``;
    panel titles, edge labels, the legend and the figure title are shared."""
    fills, inputs = sorted(frame["fill"].unique()), sorted(frame["input"].unique())
    fig, axes = plt.subplots(
        len(fills),
        len(inputs),
        figsize=(3.3 * len(inputs), 2.9 * len(fills)),
        sharey=sharey,
        squeeze=False,
        layout="constrained",
    )
    for (row, fill), (col, name) in ((r, c) for r in enumerate(fills) for c in enumerate(inputs)):
        ax = axes[row, col]
        draw(ax, frame[(frame["input"] == name) & (frame["fill"] == fill)])
        ax.set_title(f"{name}, {fill} shifts", fontsize=10)
        if row == len(fills) - 1:
            ax.set_xlabel(xlabel)
        if col == 0:
            ax.set_ylabel(ylabel)
    axes[0, -1].legend(title="pooling", fontsize=8, title_fontsize=8)
    fig.suptitle(title, fontweight="bold")
    save(fig, path)


def share_by_depth_figure(summary: pd.DataFrame, column: str, ylabel: str, jitter: int, path: str) -> None:
    """Share of trials by pooling depth, per fill and input, at one jitter (error bars: 95% intervals)."""

    def draw(ax: plt.Axes, part: pd.DataFrame) -> None:
        for pooling, group in part.groupby("pooling"):
            ax.errorbar(
                group["depth"],
                100 * group[column],
                yerr=error_bars(group, column),
                ms=4,
                capsize=3,
                **kind_style(str(pooling)),
            )
        ax.set_xticks(sorted(part["depth"].unique()))
        ax.set_ylim(-5, 105)

    shown = summary[(summary["mode"] == "random") & (summary["jitter"] == jitter)]
    fill_input_panels(
        shown,
        draw,
        xlabel="pooling steps",
        ylabel=ylabel,
        title=f"Random shifts up to ±{jitter} px",
        path=path,
        sharey=True,
    )


def difference_figure(by_shift: pd.DataFrame, path: str) -> None:
    """Normalised L2 difference after the deepest pooling against the shift size (band: 95% interval)."""

    def draw(ax: plt.Axes, part: pd.DataFrame) -> None:
        for pooling, group in part.groupby("pooling"):
            style = kind_style(str(pooling))
            ax.plot(group["shift"], group["nl2"], ms=3, **style)
            ax.fill_between(group["shift"], group["nl2_lo"], group["nl2_hi"], alpha=0.2, color=style["color"])

    deepest = by_shift[by_shift["depth"] == by_shift["depth"].max()]
    fill_input_panels(
        deepest,
        draw,
        xlabel="shift max(|dx|, |dy|) (px)",
        ylabel="‖P(x) − P(Tx)‖ / ‖P(x)‖",
        title=f"Difference after {int(deepest['depth'].max())} pooling steps",
        path=path,
    )


# --------------------------------------------------------------------------- the heads' figures
def heads_figure(heads: pd.DataFrame, path: str) -> None:
    """Accuracy and ROC AUC of every head with 95% intervals."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 0.45 * len(heads) + 1.6), sharey=True, layout="constrained")
    order = heads["model"].tolist()[::-1]
    for ax, metric, label in ((axes[0], "accuracy", "validation accuracy"), (axes[1], "roc_auc", "ROC AUC")):
        for y, name in enumerate(order):
            row = heads[heads["model"] == name].iloc[0]
            error = [[row[metric] - row[f"{metric}_lo"]], [row[f"{metric}_hi"] - row[metric]]]
            ax.errorbar(row[metric], y, xerr=error, fmt="o", capsize=3, color=PALETTE[name])
        ax.axvline(0.5, color="grey", ls="--", lw=0.8)
        ax.set(xlabel=label, xlim=(0.3, 1.0))
    axes[0].set_yticks(
        range(len(order)), [f"{n} ({heads.set_index('model').loc[n, 'parameters']:,} par.)" for n in order]
    )
    fig.suptitle("Heads on the same validation split (95% intervals)", fontweight="bold")
    save(fig, path)


def roc_figure(y_valid: np.ndarray, p_valid: dict[str, np.ndarray], path: str) -> None:
    """The ROC curve of every head (``p_valid``: head → validation P(truck)), GAP drawn thicker."""
    fig, ax = plt.subplots(figsize=(4.8, 4.4), layout="constrained")
    for name, p in p_valid.items():
        fpr, tpr, _ = roc_curve(y_valid, p)
        ax.plot(fpr, tpr, color=PALETTE[name], lw=2 if name == "gap" else 1.3, label=name)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="chance")
    ax.set(
        xlabel="false-positive rate (cars called trucks)",
        ylabel="true-positive rate (trucks found)",
        title="ROC, validation split",
    )
    ax.legend(loc="lower right", fontsize=8)
    save(fig, path)


def confusion_figure(matrix: list[list[int]], class_names: list[str], path: str) -> None:
    """The GAP head's confusion matrix."""
    fig, ax = plt.subplots(figsize=(4.2, 3.6), layout="constrained")
    sns.heatmap(
        np.array(matrix),
        annot=True,
        fmt="d",
        cmap="Blues",
        cbar=False,
        ax=ax,
        xticklabels=class_names,
        yticklabels=class_names,
    )
    ax.set(xlabel="predicted class", ylabel="true class", title="GAP head: confusion matrix")
    save(fig, path)


def calibration_figure(calib: pd.DataFrame, path: str) -> None:
    """The GAP head's calibration curve."""
    fig, ax = plt.subplots(figsize=(4.6, 4.2), layout="constrained")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="perfect calibration")
    ax.plot(calib["mean_predicted"], calib["observed_share"], marker="o", color=PALETTE["gap"], label="GAP head")
    ax.set(
        xlabel="predicted P(truck)",
        ylabel="observed share of trucks",
        title="Calibration (10 bins)",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(loc="upper left")
    save(fig, path)


def coefficients_figure(coefs: pd.DataFrame, n_top: int, path: str) -> None:
    """The ``n_top`` largest coefficients of the GAP head."""
    top = coefs.head(n_top)
    fig, ax = plt.subplots(figsize=(6, 0.28 * n_top + 1.2), layout="constrained")
    colours = [PALETTE["gmp"] if c > 0 else PALETTE["gap"] for c in top["coefficient"]]
    ax.barh(top["feature"][::-1], top["coefficient"][::-1], color=colours[::-1])
    ax.axvline(0, color="black", lw=0.8)
    ax.set(
        xlabel="coefficient per standard deviation (> 0 favours Truck)",
        ylabel="GAP score",
        title=f"The {n_top} most influential scores",
    )
    save(fig, path)


def score_grids_figure(images: pd.DataFrame, gap_x: np.ndarray, class_names: list[str], path: str) -> None:
    """The 512 scores as the exercise's 16×32 grid: two validation images per class and class means."""
    valid, train = (images["split"] == "valid").to_numpy(), (images["split"] == "train").to_numpy()
    labels = images["label"].to_numpy()
    panels = []
    for k in (0, 1):
        for i in np.flatnonzero(valid & (labels == k))[:2]:
            panels.append((f"{class_names[k]}: {images['image_id'].iloc[i].split('/')[-1]}", gap_x[i]))
    panels += [(f"mean of training {class_names[k]}s", gap_x[train & (labels == k)].mean(axis=0)) for k in (0, 1)]
    vmax = max(float(np.max(v)) for _, v in panels) or 1.0
    fig, axes = plt.subplots(len(panels) // 2, 2, figsize=(10, 1.9 * (len(panels) // 2)), layout="constrained")
    for ax, (title, values) in zip(axes.flat, panels, strict=True):
        im = ax.imshow(values.reshape(16, 32), vmin=0, vmax=vmax)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.colorbar(im, ax=axes, shrink=0.8, label="GAP score")
    fig.suptitle("The 512 pooled feature scores as a 16×32 grid", fontweight="bold")
    save(fig, path)


# --------------------------------------------------------------------------- the network stage's figure
def variant_consistency_figure(summary: pd.DataFrame, path: str) -> None:
    """Consistency (95% interval over images) against max shift: a panel per protocol, a line per variant."""
    protocols = list(dict.fromkeys(summary["protocol"]))
    fig, axes = plt.subplots(1, len(protocols), figsize=(5 * len(protocols), 3.9), layout="constrained", squeeze=False)
    for ax, protocol in zip(axes[0], protocols, strict=True):
        rows = summary[summary["protocol"] == protocol]
        for variant, line in rows.groupby("variant", sort=False):
            ax.errorbar(
                line["max_shift"],
                100 * line["consistency"],
                yerr=[
                    100 * (line["consistency"] - line["consistency_lo"]),
                    100 * (line["consistency_hi"] - line["consistency"]),
                ],
                capsize=3,
                **kind_style(str(variant)),
            )
        ax.set(xscale="log", xlabel="max shift s of each copy (px)", ylabel="same predicted class (% of pairs)")
        ax.set_xticks(rows["max_shift"].unique(), [str(s) for s in rows["max_shift"].unique()])
        ax.set_title(f"{protocol} protocol", fontsize=11)
    axes[0][-1].legend(title="base variant", fontsize=9)
    save(fig, path)
