"""One consistent figure style; PNGs written atomically and reproducibly."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import seaborn as sns

from .io import atomic_path

#: One colour per pooling kind and per head, the same in every figure.
PALETTE = {
    "max": "#c03d3e", "avg": "#3274a1", "blur": "#3a923a", "aps": "#8e5ea2",
    "gap": "#3274a1", "gmp": "#c03d3e", "flatten": "#e1812c", "pixels": "#7f7f7f", "majority": "#b8b8b8",
}  # fmt: skip


#: Marker and line style per pooling kind, so that lines lying on top of each other stay visible.
STYLE = {"max": ("o", "-"), "avg": ("s", "--"), "blur": ("^", ":"), "aps": ("D", "-.")}


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
