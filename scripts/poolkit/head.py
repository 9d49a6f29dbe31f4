"""The classification heads: scaled logistic regression with C chosen by cross-validation, on the
512 GAP scores, the 512 global-max scores, the flattened feature map and raw pixels, plus the
majority class, all on one split; validation metrics with intervals and paired differences.

scikit-learn (2.3 s to import) is imported inside the functions that use it: the Snakefile imports
this module for :class:`HeadSettings` in every parse (each dry run, each cluster job)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from .io import UserError, feature_columns
from .settings import StageSettings, given_field
from .stats import (
    bootstrap_classification_ci,
    percentile_interval,
    resample_indices,
    resampled_classification_metrics,
)

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from . import reg_paths

log = logging.getLogger(__name__)


#: How C is chosen from the cross-validated log loss: ``one_se`` the smallest C (the strongest
#: regularisation) whose mean is within one standard error of the lowest mean; ``min`` the lowest mean.
C_RULES = ("one_se", "min")


def make_pipeline(max_iter: int, tol: float = 1e-4) -> Pipeline:
    """StandardScaler followed by L2 logistic regression (lbfgs, deterministic)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    logreg = LogisticRegression(max_iter=max_iter, solver="lbfgs", tol=tol)
    return Pipeline([("scale", StandardScaler()), ("logreg", logreg)])


def cv_splits(y: np.ndarray, folds: int, repeats: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``repeats`` × stratified ``folds``-fold partitions of the training split (one repeat: the
    same folds as ``StratifiedKFold(folds, shuffle=True, random_state=seed)``)."""
    from sklearn.model_selection import RepeatedStratifiedKFold

    n_min = int(np.bincount(y, minlength=2).min())
    if n_min < folds:
        raise UserError(
            f"head.cv_folds is {folds} but the smaller training class has only {n_min} images; "
            "lower head.cv_folds or use more training images"
        )
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    return list(splitter.split(np.zeros((len(y), 1)), y))


def choose_c(table: pd.DataFrame, rule: str) -> float:
    """The C a rule picks from a CV table (columns ``C``, ``cv_log_loss``, ``cv_log_loss_se``).

    ``min``: the lowest mean log loss (the first C on ties). ``one_se``: the smallest C whose mean is at
    most the lowest mean plus that C's standard error (Hastie, Tibshirani & Friedman, ESL §7.10)."""
    if rule not in C_RULES:
        raise UserError(f"head.c_rule: unknown rule {rule!r}; allowed: {', '.join(C_RULES)}")
    ordered = table.sort_values("C", kind="stable").reset_index(drop=True)
    best = int(np.argmin(ordered["cv_log_loss"].to_numpy()))
    if rule == "min":
        return float(ordered.loc[best, "C"])
    threshold = ordered.loc[best, "cv_log_loss"] + ordered.loc[best, "cv_log_loss_se"]
    return float(ordered.loc[ordered["cv_log_loss"] <= threshold, "C"].min())


def cv_summary(c_grid: Sequence[float], losses: np.ndarray, rule: str) -> pd.DataFrame:
    """The CV table from the log loss of every split (rows) and C (columns): mean, SD over the splits,
    standard error, the C the rule chooses and the C of the lowest mean.

    The standard error is the SD over *all* the splits (``cv_folds × cv_repeats``) over the square root
    of their number, as caret's ``oneSE`` has it for repeated CV (Kuhn, ``train``: the SD over the
    resamples / √resamples). The splits are the units whose mean the rule compares, so they are the
    units of its standard error. It is optimistic: the splits share training rows (any two of one
    repeat share most of them, and every repeat uses every image), so their scores are correlated and
    the true standard error of the mean is larger; no unbiased estimate exists (Bengio & Grandvalet
    2004), and corrections such as Nadeau & Bengio's (2003; Bouckaert & Frank 2004 for repeated
    k-fold) widen it to about ``SD · √(1/splits + n_test/n_train)``. The rule does not need the true
    one: it needs a yardstick of the spread between splits that lets the choice settle. Until issue 31
    it was ``SD / √cv_folds`` (repeats not counted), which put the demo's GMP head on the boundary:
    over fold seeds 0–19 its C was 0.001 six times and 0.01 fourteen times; with this SE it is 0.01
    all twenty times (with Nadeau & Bengio's, ten and ten). The price: with more repeats this SE
    shrinks and the rule approaches ``min``, and a head whose lowest means are a tie moves with the
    seed (the demo's pixel head, at chance: 1e-5 or 1e-4, 5 of 20 seeds; docs/performance.md).
    :func:`fit_heads` records how often each C wins over several fold seeds, so that a choice that
    still hinges on the seed shows."""
    n_splits = len(losses)
    table = pd.DataFrame(
        {
            "C": np.asarray(c_grid, dtype=float),
            "cv_log_loss": losses.mean(axis=0),
            "cv_log_loss_sd": losses.std(axis=0),
            "cv_log_loss_se": losses.std(axis=0, ddof=1) / np.sqrt(n_splits) if n_splits > 1 else np.nan,
        }
    )
    chosen = choose_c(table.fillna({"cv_log_loss_se": 0.0}), rule)
    table["chosen"] = table["C"] == chosen
    table["lowest_mean"] = table["C"] == choose_c(table, "min")
    table["c_at_edge"] = c_at_edge(c_grid, chosen)
    return table


def c_at_edge(c_grid: Sequence[float], chosen: float) -> bool:
    """Whether the chosen C is the grid's smallest or largest (the best may lie beyond it)."""
    return len(set(c_grid)) > 1 and chosen in (min(c_grid), max(c_grid))


def training_scaler(x_train: np.ndarray) -> StandardScaler:
    """A StandardScaler fitted on the training rows, a block at a time (no float64 copy of the matrix)."""
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler()
    for start in range(0, len(x_train), 1024):
        scaler.partial_fit(x_train[start : start + 1024])
    return scaler


def solve_splits(
    x_train: np.ndarray,
    y_train: np.ndarray,
    c_sorted: Sequence[float],
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    scaler: StandardScaler,
    *,
    max_iter: int,
    tol: float,
    threads: int,
) -> reg_paths.Paths:
    """Every split's path and, last, the whole training split's (scaled by ``scaler``), batched
    (:func:`poolkit.reg_paths.solve`); fits that stopped short of the gradient test are logged."""
    from . import reg_paths  # SciPy: imported when a head is fitted, not where the Snakefile imports this module

    problems = reg_paths.split_problems(x_train, y_train, splits, (scaler.mean_, scaler.scale_))
    solved = reg_paths.solve(problems, c_sorted, max_iter=max_iter, tol=tol, threads=threads)
    del problems
    unconverged = int((~solved.converged).sum())
    if unconverged:
        log.warning(
            "%d of %d fits stopped before the gradient test (tol %g; max_iter %d or no further decrease)",
            unconverged,
            solved.converged.size,
            tol,
            max_iter,
        )
    return solved


def fit_with_cv(
    x_train: np.ndarray,
    y_train: np.ndarray,
    c_grid: Sequence[float],
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    max_iter: int,
    rule: str = "one_se",
    tol: float = 1e-4,
    threads: int = 1,
) -> tuple[Pipeline, pd.DataFrame]:
    """Choose C by cross-validated log loss over ``splits`` (see :func:`cv_summary`) and fit the
    chosen C on the whole training split.

    Every split (scaled by its own training rows) and the whole training split are fitted along the
    grid together (:func:`poolkit.reg_paths.solve`: warm-started paths in increasing C, one batched
    L-BFGS, the same bits for any ``threads``), each until its largest gradient entry is at most
    ``min(tol, reg_paths.COEF_TOL · l2)``; the final model is scikit-learn's fit at the chosen C, started
    from the whole split's solution. The CV table is a converged ``GridSearchCV``'s over a scaler +
    logistic-regression pipeline on the same splits within the solver's tolerance (on the demo's
    heads every C's mean within 4e-4); fits that stop short of the test are counted in
    ``unconverged`` and logged."""
    c_sorted = sorted(set(float(c) for c in c_grid))
    scaler = training_scaler(x_train)
    solved = solve_splits(x_train, y_train, c_sorted, splits, scaler, max_iter=max_iter, tol=tol, threads=threads)
    with threadpool_limits(1):
        table = cv_summary(c_sorted, solved.losses[:-1], rule)
        table["unconverged"] = (~solved.converged[:-1]).sum(axis=0)
        chosen = int(np.flatnonzero(table["chosen"])[0])
        model = make_pipeline(max_iter, tol)
        logreg = model.named_steps["logreg"].set_params(C=c_sorted[chosen], warm_start=True)
        start = solved.coefs[-1, chosen]
        logreg.coef_, logreg.intercept_ = start[None, :-1], start[-1:]
        logreg.fit(scaler.transform(x_train), y_train)  # the pipeline's own fit, without fitting the scaler again
        logreg.set_params(warm_start=False)
        model.steps[0] = ("scale", scaler)
    return model, table


def seed_choices(
    x_train: np.ndarray,
    y_train: np.ndarray,
    c_grid: Sequence[float],
    split_sets: Sequence[Sequence[tuple[np.ndarray, np.ndarray]]],
    *,
    max_iter: int,
    rule: str = "one_se",
    tol: float = 1e-4,
    threads: int = 1,
) -> list[float]:
    """The C the rule picks on each set of splits (one set per fold seed), as :func:`fit_with_cv`
    picks it, without the final fit: each set in a batch of the path solver of its own, as a run
    with that seed solves it (the same bits: the C a run with that ``head.seed`` would choose; and the
    run's own CV table and model do not depend on how many seeds are checked). One batch of every
    set's splits at once was tried: on the demo's GAP head its 101 problems left 3 of 707 fits
    unconverged at ``max_iter`` (84 s, against about 1 s a seed in batches of 26)."""
    if not split_sets:
        return []
    c_sorted = sorted(set(float(c) for c in c_grid))
    scaler = training_scaler(x_train)
    choices = []
    for splits in split_sets:
        solved = solve_splits(x_train, y_train, c_sorted, splits, scaler, max_iter=max_iter, tol=tol, threads=threads)
        with threadpool_limits(1):
            table = cv_summary(c_sorted, solved.losses[:-1], rule)
        choices.append(float(table.loc[table["chosen"], "C"].iloc[0]))
    return choices


def c_wins(choices: Sequence[float]) -> dict[float, int]:
    """How many times each C was chosen, in increasing C."""
    values, counts = np.unique(np.asarray(choices, dtype=float), return_counts=True)
    return {float(v): int(n) for v, n in zip(values, counts, strict=True)}


def format_wins(wins: Mapping[float, int]) -> str:
    """``C:count`` pairs joined by ``;`` in increasing C (``0.001:2;0.01:3``)."""
    return ";".join(f"{c:g}:{n}" for c, n in sorted(wins.items()))


def evaluate(
    y_true: np.ndarray, p_truck: np.ndarray, n_boot: int, seed: int, resampled: dict[str, np.ndarray] | None = None
) -> dict[str, Any]:
    """Validation metrics (scikit-learn) with 95% bootstrap intervals (resampling images); ``resampled``:
    the metrics on :func:`resample_indices` ``(len(y_true), n_boot, seed)`` when already computed."""
    from sklearn import metrics as skm

    predicted = (p_truck >= 0.5).astype(int)
    values = {
        "accuracy": skm.accuracy_score(y_true, predicted),
        "balanced_accuracy": skm.balanced_accuracy_score(y_true, predicted),
        "roc_auc": skm.roc_auc_score(y_true, p_truck),
        "log_loss": skm.log_loss(y_true, p_truck, labels=[0, 1]),
        "brier": skm.brier_score_loss(y_true, p_truck),
    }
    if resampled is None:
        intervals = bootstrap_classification_ci(y_true, p_truck, resample_indices(len(y_true), max(n_boot, 0), seed))
    else:
        intervals = {name: percentile_interval(values) for name, values in resampled.items()} if n_boot > 0 else {}
    metrics: dict[str, Any] = {
        name: {
            "value": float(value),
            "ci_low": intervals.get(name, (float(value), float(value)))[0],
            "ci_high": intervals.get(name, (float(value), float(value)))[1],
        }
        for name, value in values.items()
    }
    matrix = skm.confusion_matrix(y_true, predicted, labels=[0, 1])
    metrics["confusion_matrix"] = {
        "labels": ["Car", "Truck"],
        "rows_true_cols_predicted": matrix.tolist(),
    }
    metrics["n"] = len(y_true)
    return metrics


def calibration_table(y_true: np.ndarray, p_truck: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Observed truck share against mean predicted probability, per probability bin."""
    from sklearn.calibration import calibration_curve

    observed, predicted = calibration_curve(y_true, p_truck, n_bins=n_bins, strategy="uniform")
    return pd.DataFrame({"mean_predicted": predicted, "observed_share": observed})


def roc_table(y_true: np.ndarray, p_truck: np.ndarray) -> pd.DataFrame:
    """The ROC curve as a table."""
    from sklearn.metrics import roc_curve

    fpr, tpr, thresholds = roc_curve(y_true, p_truck)
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thresholds})


def majority_baseline(y_train: np.ndarray, n_valid: int) -> np.ndarray:
    """The majority-class baseline's probability of 'Truck' for each validation image."""
    from sklearn.dummy import DummyClassifier

    dummy = DummyClassifier(strategy="prior").fit(np.zeros((len(y_train), 1)), y_train)
    return dummy.predict_proba(np.zeros((n_valid, 1)))[:, 1]


def global_max_scores(flat_maps: np.ndarray, map_shape: Sequence[int]) -> np.ndarray:
    """Global max pooling (GMP) of flattened (h, w, c) feature maps: one score per channel."""
    h, w, c = map_shape
    return flat_maps.reshape(len(flat_maps), h * w, c).max(axis=1)


def paired_differences(
    y_true: np.ndarray,
    p_by_model: dict[str, np.ndarray],
    pairs: Sequence[tuple[str, str]],
    n_boot: int,
    seed: int,
    resampled: dict[str, dict[str, np.ndarray]] | None = None,
) -> pd.DataFrame:
    """Differences of accuracy and ROC AUC between models (first − second) with paired 95% bootstrap
    intervals: every model is scored on the same resampled images, those of :func:`evaluate`
    (``resampled``: each model's metrics on them, when already computed)."""
    every = np.arange(len(y_true))[None, :]
    models = sorted({name for pair in pairs for name in pair})
    point = {m: resampled_classification_metrics(y_true, p_by_model[m], every) for m in models}
    if resampled is None:
        idx = resample_indices(len(y_true), max(n_boot, 0), seed)
        resampled = {m: resampled_classification_metrics(y_true, p_by_model[m], idx) for m in models}
    boot = resampled if n_boot > 0 else {}
    rows = []
    for first, second in pairs:
        for metric in ("accuracy", "roc_auc"):
            if boot:
                low, high = np.nanquantile(boot[first][metric] - boot[second][metric], [0.025, 0.975])
            else:
                low = high = np.nan
            difference = float(point[first][metric][0] - point[second][metric][0])
            rows.append(
                {
                    "comparison": f"{first} - {second}",
                    "metric": metric,
                    "difference": difference,
                    "ci_low": float(low),
                    "ci_high": float(high),
                }
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- the heads of one run
CLASS_NAMES = ["Car", "Truck"]
METRICS = ("accuracy", "balanced_accuracy", "roc_auc", "log_loss", "brier")
#: The heads, in the order they are shown: name → what they see.
HEADS = {
    "gap": "512 global-average-pooled scores",
    "gmp": "512 global-max-pooled scores",
    "flatten": "the flattened last feature map",
    "pixels": "downsampled raw pixels",
}
#: A head's input matrix, or a function that returns it once it has been read (in the background).
Matrix = np.ndarray | Callable[[], np.ndarray]
#: The paired differences reported: (head, head it is compared with).
PAIRS = [("gap", "flatten"), ("gap", "gmp")]


@dataclass(frozen=True, kw_only=True)
class HeadSettings(StageSettings):
    """How the heads are fitted and evaluated: the config's ``head`` section (but ``c_seeds`` and
    ``n_top``, which only the head stage uses), and ``threads``."""

    SECTION = "head"

    c_grid: list[float]
    cv_folds: int
    cv_repeats: int
    c_rule: str
    max_iter: int
    n_boot: int
    seed: int
    #: threads for the batched CV fits' matrix products (from the job); the results are the same bits for any value.
    threads: int = given_field(default=1)


@dataclass(frozen=True)
class HeadFit:
    """One fitted head: its model (None for the majority class), CV table and validation P(truck);
    ``seed_choices``: the C the rule picks under fold seeds ``head.seed``, ``head.seed + 1``, ...
    (the first is the run's own choice; empty for the majority class)."""

    name: str
    model: Pipeline | None
    cv: pd.DataFrame | None
    p_valid: np.ndarray
    n_features: int
    seed_choices: tuple[float, ...] = ()

    @property
    def parameters(self) -> int:
        """Coefficients plus intercept (1 for the majority class)."""
        return self.n_features + 1

    @property
    def chosen_c(self) -> float:
        """The C chosen by cross-validation (NaN for the majority class)."""
        return float(self.model.named_steps["logreg"].C) if self.model is not None else float("nan")

    @property
    def c_at_edge(self) -> bool:
        """Whether the chosen C is the grid's smallest or largest (False for the majority class)."""
        return self.cv is not None and bool(self.cv["c_at_edge"].iloc[0])

    @property
    def c_wins(self) -> dict[float, int]:
        """How many of the fold seeds chose each C (empty for the majority class)."""
        return c_wins(self.seed_choices)

    @property
    def c_agreement(self) -> float:
        """The share of the fold seeds whose choice is the run's C (NaN for the majority class)."""
        if not self.seed_choices:
            return float("nan")
        return self.seed_choices.count(self.chosen_c) / len(self.seed_choices)


@dataclass(frozen=True)
class HeadResults:
    """Every head of one run, evaluated on the validation split."""

    images: pd.DataFrame
    fits: dict[str, HeadFit]
    evaluated: dict[str, dict[str, Any]]
    differences: pd.DataFrame

    @property
    def valid(self) -> np.ndarray:
        return (self.images["split"] == "valid").to_numpy()

    @property
    def y_valid(self) -> np.ndarray:
        return self.images.loc[self.valid, "label"].to_numpy(int)


def score_matrices(features: pd.DataFrame, pixels: pd.DataFrame) -> dict[str, np.ndarray]:
    """The inputs of the heads that do not need the maps: GAP scores and pixels (float32)."""
    return {
        "gap": features[feature_columns()].to_numpy(np.float32),
        "pixels": pixels[[c for c in pixels.columns if c.startswith("p")]].to_numpy(np.float32),
    }


def map_matrices(flat_maps: np.ndarray, map_shape: Sequence[int]) -> dict[str, np.ndarray]:
    """The inputs of the heads on the maps: GMP scores and the flattened maps (not copied)."""
    return {
        "gmp": global_max_scores(flat_maps, map_shape).astype(np.float32),
        "flatten": flat_maps.astype(np.float32, copy=False),
    }


def head_matrices(
    features: pd.DataFrame, pixels: pd.DataFrame, maps: Callable[[], np.ndarray], map_shape: Sequence[int]
) -> dict[str, Matrix]:
    """Every head's input matrix, in the order of :data:`HEADS`: those of :func:`score_matrices` at once,
    those of :func:`map_matrices` as functions that wait for ``maps()`` (the flattened feature maps, in
    the rows' order; called once, so the maps can be read in the background while the others are fitted)."""
    scores = score_matrices(features, pixels)

    @functools.cache
    def from_maps() -> dict[str, np.ndarray]:
        return map_matrices(maps(), map_shape)

    def waiting(name: str) -> Callable[[], np.ndarray]:
        return lambda: from_maps()[name]

    return {name: scores[name] if name in scores else waiting(name) for name in HEADS}


def _rows(mask: np.ndarray) -> slice | np.ndarray:
    """The rows a boolean mask selects: a slice (so a view, not a copy of the Flatten head's 168 MB)
    when they are consecutive, as the feature stage writes them (training images first)."""
    where = np.flatnonzero(mask)
    if len(where) and where[-1] - where[0] + 1 == len(where):
        return slice(int(where[0]), int(where[-1]) + 1)
    return where


def fit_heads(
    images: pd.DataFrame, matrices: Mapping[str, Matrix], settings: HeadSettings, c_seeds: int = 1
) -> dict[str, HeadFit]:
    """Fit every head on the training split (C by repeated CV on folds shared by all heads), plus the
    majority class, in the order of ``matrices``; the matrices at hand first, then those still being
    read. A C at the grid's edge is logged as a warning.

    ``c_seeds`` > 1: the rule is also rerun on the repeated folds of seeds ``settings.seed + 1`` to
    ``settings.seed + c_seeds − 1`` (:func:`seed_choices`; each costs one more repeated CV per head,
    without a final fit), and each head's :attr:`HeadFit.seed_choices` holds the C of every seed; its
    model and CV table are those of ``settings.seed`` whatever ``c_seeds``. A head whose C is not the
    same under every seed is logged."""
    train = (images["split"] == "train").to_numpy()
    y_train = images.loc[train, "label"].to_numpy(int)
    folds, repeats = settings.cv_folds, settings.cv_repeats
    splits = cv_splits(y_train, folds, repeats, settings.seed)
    other_seeds = [cv_splits(y_train, folds, repeats, settings.seed + k) for k in range(1, max(c_seeds, 1))]
    solver: dict[str, Any] = {"max_iter": settings.max_iter, "rule": settings.c_rule, "threads": settings.threads}
    fits = {}
    fit_rows, valid_rows = _rows(train), _rows(~train)
    for name in sorted(matrices, key=lambda head: callable(matrices[head])):
        matrix = matrices[name]
        x = matrix() if callable(matrix) else matrix
        x_fit = x[fit_rows]  # a view where the training rows are consecutive, else one copy for both calls
        model, cv = fit_with_cv(x_fit, y_train, settings.c_grid, splits, **solver)
        others = seed_choices(x_fit, y_train, settings.c_grid, other_seeds, **solver)
        with threadpool_limits(1):
            p_valid = model.predict_proba(x[valid_rows])[:, 1]
        chosen = float(model.named_steps["logreg"].C)
        fits[name] = HeadFit(name, model, cv.assign(model=name), p_valid, x.shape[1], (chosen, *others))
        log.info("head %s: %d features, C=%g", name, x.shape[1], chosen)
        if len(fits[name].c_wins) > 1:
            log.info(
                "head %s: the rule's C depends on the fold seed (seeds %d to %d: %s)",
                name,
                settings.seed,
                settings.seed + c_seeds - 1,
                format_wins(fits[name].c_wins),
            )
        if fits[name].c_at_edge:
            log.warning(
                "head %s: the chosen C=%g is at the edge of head.c_grid (%g to %g); the best C may lie beyond "
                "it: widen head.c_grid",
                name,
                fits[name].chosen_c,
                min(settings.c_grid),
                max(settings.c_grid),
            )
    fits = {name: fits[name] for name in matrices}
    fits["majority"] = HeadFit("majority", None, None, majority_baseline(y_train, int((~train).sum())), 0)
    return fits


def fit_and_evaluate(
    images: pd.DataFrame, matrices: Mapping[str, Matrix], settings: HeadSettings, c_seeds: int = 1
) -> HeadResults:
    """Fit every head (``c_seeds``: see :func:`fit_heads`), then its validation metrics with intervals
    and the paired differences."""
    fits = fit_heads(images, matrices, settings, c_seeds)
    y_valid = images.loc[images["split"] == "valid", "label"].to_numpy(int)
    p_valid = {name: fit.p_valid for name, fit in fits.items()}
    n_boot, seed = settings.n_boot, settings.seed
    idx = resample_indices(len(y_valid), max(n_boot, 0), seed)  # every model on the same resamples, once
    boot = {name: resampled_classification_metrics(y_valid, p, idx) for name, p in p_valid.items() if len(idx)}
    evaluated = {name: evaluate(y_valid, p, n_boot, seed, boot.get(name)) for name, p in p_valid.items()}
    differences = paired_differences(y_valid, p_valid, PAIRS, n_boot, seed, boot)
    return HeadResults(images, fits, evaluated, differences)


def heads_table(results: HeadResults) -> pd.DataFrame:
    """One row per head: what it sees, its parameter count, chosen C, how often each C wins over the
    fold seeds (``c_wins``, ``C:count;...``) and the share that agrees with the chosen C
    (``c_agreement``), and metrics with intervals."""
    rows = []
    for name, metrics in results.evaluated.items():
        fit = results.fits[name]
        row = {
            "model": name,
            "input": HEADS.get(name, "nothing (the training split's majority class)"),
            "n_features": fit.n_features,
            "parameters": fit.parameters,
            "chosen_C": fit.chosen_c,
            "c_at_edge": fit.c_at_edge,
            "c_wins": format_wins(fit.c_wins),
            "c_agreement": fit.c_agreement,
        }
        for m in METRICS:
            row.update({m: metrics[m]["value"], f"{m}_lo": metrics[m]["ci_low"], f"{m}_hi": metrics[m]["ci_high"]})
        rows.append(row)
    return pd.DataFrame(rows)


def head_tables(results: HeadResults) -> dict[str, pd.DataFrame]:
    """Every table of the head stage, each computed once (the figures draw from the same ones): the
    heads, their CV tables and paired differences, and the GAP head's coefficients, ROC curve and
    calibration bins."""
    gap = results.fits["gap"]
    return {
        "cv": cv_table(results),
        "heads": heads_table(results),
        "differences": results.differences,
        "coefficients": coefficient_table(gap.model),
        "roc": roc_table(results.y_valid, gap.p_valid),
        "calibration": calibration_table(results.y_valid, gap.p_valid),
    }


def cv_table(results: HeadResults) -> pd.DataFrame:
    """The cross-validated log loss of every head and C."""
    tables = [fit.cv for fit in results.fits.values() if fit.cv is not None]
    columns = ["model", "C", "cv_log_loss", "cv_log_loss_sd", "chosen", "cv_log_loss_se", "lowest_mean", "c_at_edge"]
    columns.append("unconverged")
    return pd.concat(tables)[columns]


def predictions_table(results: HeadResults) -> pd.DataFrame:
    """Validation images with the GAP head's P(truck) and class, and every head's P(truck)."""
    gap = results.fits["gap"].p_valid
    columns = {f"p_truck_{name}": results.fits[name].p_valid for name in HEADS}
    images = results.images[results.valid].reset_index(drop=True)
    return images.assign(p_truck=gap, predicted=(gap >= 0.5).astype(int), **columns)


def coefficient_table(model: Pipeline) -> pd.DataFrame:
    """The GAP head's coefficients, largest magnitude first."""
    coef = model.named_steps["logreg"].coef_[0]
    table = pd.DataFrame({"feature": feature_columns(), "coefficient": coef, "abs_coefficient": np.abs(coef)})
    table = table.sort_values(["abs_coefficient", "feature"], ascending=[False, True]).reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table


def metrics_record(results: HeadResults, settings: HeadSettings, map_shape: list[int]) -> dict[str, Any]:
    """metrics.json: the GAP head's metrics at the top, every head under ``models``."""
    parameters = {name: fit.parameters for name, fit in results.fits.items()}
    gap = results.evaluated["gap"]
    split = results.images["split"]
    return {
        "seed": settings.seed,
        "n_train": int((split == "train").sum()),
        "n_valid": int((split == "valid").sum()),
        "chosen_C": results.fits["gap"].chosen_c,
        "c_grid": settings.c_grid,
        "cv_folds": settings.cv_folds,
        "cv_repeats": settings.cv_repeats,
        "c_rule": settings.c_rule,
        "c_at_edge": [name for name, fit in results.fits.items() if fit.c_at_edge],
        "c_seeds": [settings.seed + k for k in range(len(results.fits["gap"].seed_choices))],
        "c_wins": {
            name: {f"{c:g}": n for c, n in fit.c_wins.items()}
            for name, fit in results.fits.items()
            if fit.cv is not None
        },
        "parameters": {
            "feature_map_shape": map_shape,
            "gap_head": parameters["gap"],
            "flatten_head": parameters["flatten"],
            "ratio": parameters["flatten"] / parameters["gap"],
        },
        "models": {name: {**metrics, "parameters": parameters[name]} for name, metrics in results.evaluated.items()},
        "differences": results.differences.to_dict(orient="records"),
        **{k: gap[k] for k in METRICS},
        "confusion_matrix": gap["confusion_matrix"],
    }
