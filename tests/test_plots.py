"""Figures of the exercise and the head drawn from the package's own arrays, in the fast tier: real PNGs,
the same bytes when drawn twice (no timestamp), nothing left half-written."""

from pathlib import Path

import numpy as np
import pytest

from poolkit import exercise, plots

PNG = b"\x89PNG\r\n\x1a\n"


def drawn_twice(tmp_path: Path, draw) -> bytes:
    """Draw a figure into two files; return the bytes after checking they are one PNG."""
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    draw(first)
    draw(second)
    assert first.read_bytes() == second.read_bytes()
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob(".*"))
    return first.read_bytes()


@pytest.fixture(autouse=True)
def theme():
    plots.setup()


def test_the_exercise_figures_are_reproducible_pngs(tmp_path):
    steps = {"input": np.linspace(0, 1, 64).reshape(8, 8), "pooled": np.ones((4, 4, 3)) * 0.5}
    assert drawn_twice(tmp_path, lambda path: plots.condense_figure(steps, str(path))).startswith(PNG)
    maps, pooled, _ = exercise.pooled_maps(np.random.default_rng(0))
    assert drawn_twice(tmp_path, lambda path: plots.gap_maps_figure(maps, pooled, str(path))).startswith(PNG)


def test_the_heads_confusion_figure_is_a_reproducible_png(tmp_path):
    figure = drawn_twice(tmp_path, lambda path: plots.confusion_figure([[5, 1], [2, 4]], ["Car", "Truck"], str(path)))
    assert figure.startswith(PNG) and len(figure) > 5_000
