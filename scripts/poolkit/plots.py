"""One consistent figure style; PNGs written atomically and reproducibly."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import seaborn as sns

from .io import atomic_path

PALETTE = {"max": "#c03d3e", "avg": "#3274a1", "blur": "#3a923a"}


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
