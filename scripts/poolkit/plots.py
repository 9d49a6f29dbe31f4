"""One consistent figure style; PNGs written atomically and reproducibly."""

from __future__ import annotations

import os

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


def kind_style(name: str) -> dict[str, str]:
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
