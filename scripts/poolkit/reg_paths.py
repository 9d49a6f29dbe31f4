"""Regularisation paths of many L2 logistic regressions on one matrix, solved together.

A head's cross-validation fits one model on every split (its own training rows, scaled by their own
means and SDs) at every C of the grid. Standardising is a change of variables: with a split's column
means m and SDs s, ``((x - m) / s) @ w + b == x @ (w / s) + (b - m @ (w / s))``. So the margins of
every split, and the gradients of its loss, come from two products of the *shared* matrix with one
column per split. :func:`solve` runs one L-BFGS per split in step, so that a step costs two
matrix-matrix products for all splits instead of two matrix-vector products each (the Flatten head's
matrix is 168 MB: those were bound by memory bandwidth).

The objective is scikit-learn's: the mean log loss over the split's training rows plus
``l2 / 2 · ‖w‖²``, ``l2 = 1 / (C n)``, intercept unpenalised, in the split's standardised
coordinates. A fit has converged when its largest gradient entry is at most ``min(tol, coef_tol ·
l2)``: the objective is l2-strongly convex in the coefficients, so a gradient g puts them within
about ``‖g‖ / l2`` of the optimum, and a test on ``tol`` alone (scikit-learn's) stops far from it at
large C, where l2 is small and the loss nearly flat (on the demo's GAP head at C = 10 the held-out
log loss was 0.05 from the optimum's). A fit whose objective stops decreasing (a relative decrease
of at most 64 ε) or that reaches ``max_iter`` stops unconverged, and is flagged. Each split's path
runs in increasing C, warm-started from its previous C, and keeps its curvature pairs (a new penalty
shifts each pair's gradient difference by a known term). A trial point's margins are the current
ones plus the step times the direction's (computed once per direction), in float64: the objective
then does not carry the float32 products' rounding of the whole margin, which stalled fits at large
C before the gradient test, and a shorter step costs no product. No library offers an L-BFGS over
problems that share a matrix; the steps are the textbook ones (Nocedal & Wright, *Numerical
Optimization*, Algorithm 7.4), with a backtracking Armijo line search, which suffices because the
objective is strongly convex.

The initial inverse Hessian is ``(Σ_D + l2 I)⁻¹`` on the coefficients, with ``Σ_D = X' D X / n`` the
logistic Hessian's data term at one point (the intercept's curvature ``mean(D)`` alone): exact for at
most :data:`FULL_PRECONDITIONER` features, else its :data:`PRECONDITIONER_RANK` leading eigenpairs
(a seeded randomised range finder) and the mean of the other eigenvalues. At the first C, D = 1/4 on
every row (the Hessian at w = 0) in the whole training split's scaling. With at most
:data:`FULL_PRECONDITIONER` features each later C gets its own, built when the first problem reaches
it, from that problem's solution at the C before (its weights ``σ(z)(1 − σ(z))``, its scaling): at
large C most rows are fitted well and their weights fall far below 1/4, so the fixed ``Σ / 4``
overstates the curvature by orders of magnitude (on the demo's GAP head the weights per C cut the
steps at C = 10 from 116 to 37 under the gradient test above). With more features the low-rank
weighted version was worse than the fixed one (on the demo's Flatten head, 2,048 features on 192 rows:
666 evaluations a path and 52 of 182 fits stalled, against 146 and none), so every C keeps the
fixed one. On the full-size features the fixed ``Σ / 4`` cut the Flatten head's steps about fourfold
and the pixel head's (ill-conditioned) about fiftyfold.

Every product is cut into fixed blocks of rows or columns, each on one BLAS thread, so the results
are the same bits for any number of threads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from scipy.special import expit
from threadpoolctl import threadpool_limits

from .stats import binary_log_loss

#: Curvature pairs kept per problem (scikit-learn's lbfgs keeps 10).
MEMORY = 10
#: The gradient test's bound on the coefficients' distance to the optimum, in standardised units (see above).
COEF_TOL = 1e-3
#: Armijo's sufficient-decrease constant, and the step reductions after which a fit is stopped.
ARMIJO, MAX_BACKTRACKS = 1e-4, 40
#: A fit stops (unconverged) when the objective's relative decrease is at most this (scikit-learn's ftol).
FTOL = 64 * np.finfo(float).eps
#: Up to this many features the preconditioner uses the whole correlation matrix.
FULL_PRECONDITIONER = 1024
#: Above it, this many leading eigenpairs (plus 16 oversampling columns in the range finder).
PRECONDITIONER_RANK, OVERSAMPLING = 64, 16
#: Blocks of rows (margins) and of columns (gradients) the matrix products are cut into, each on one
#: BLAS thread: 8 keeps 2 or 4 threads evenly loaded.
BLOCKS = 8
#: Rows per block of the float64 column sums.
BLOCK = 1024
#: Problems per block of the direction computations.
CHUNK = 8

Precondition = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Problems:
    """Logistic problems on the rows of one matrix, each with its own training rows and scaling."""

    #: (n, d) float32, centred on its column means (the margins then lose no precision).
    x: np.ndarray
    #: (n,) labels, 0 or 1, as float64.
    y: np.ndarray
    #: (problems, n) bool: the rows each problem fits; the others are its held-out rows.
    train: np.ndarray
    #: (problems, d) each problem's column means, minus the centre of ``x``.
    shift: np.ndarray
    #: (problems, d) each problem's column SDs (1 for a column constant on its training rows).
    scale: np.ndarray


@dataclass(frozen=True)
class Paths:
    """Each problem's fit at each C: held-out log loss (NaN without held-out rows), coefficients with
    the intercept last, L-BFGS iterations, the largest gradient entry where it stopped, and whether
    that met the gradient test (not a stalled objective, ``max_iter`` or a failed line search)."""

    losses: np.ndarray  # (problems, C)
    coefs: np.ndarray  # (problems, C, d + 1)
    iterations: np.ndarray  # (problems, C)
    gradients: np.ndarray  # (problems, C)
    converged: np.ndarray  # (problems, C)
    evaluations: np.ndarray  # (problems,): objective evaluations along each path


def column_sums_by_group(x: np.ndarray, centre: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per group of rows (``groups``: (n, g) 0/1), the column sums of ``x - centre`` and of its squares,
    in float64, a block of rows at a time on one BLAS thread (the same bits every time)."""
    total, squares = np.zeros((groups.shape[1], x.shape[1])), np.zeros((groups.shape[1], x.shape[1]))
    with threadpool_limits(1):
        for start in range(0, len(x), BLOCK):
            block = x[start : start + BLOCK] - centre
            member = groups[start : start + BLOCK].T
            total += member @ block
            np.multiply(block, block, out=block)
            squares += member @ block
    return total, squares


def split_problems(
    x: np.ndarray,
    y: np.ndarray,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    full_scaling: tuple[np.ndarray, np.ndarray],
) -> Problems:
    """One problem per split, scaled by its training rows' means and SDs (a StandardScaler fitted on
    them), then one on every row with ``full_scaling`` (mean, scale: the final model's scaler)."""
    centre = x.mean(axis=0, dtype=np.float64)
    groups = np.zeros((len(x), len(splits) + 1))
    groups[:, -1] = 1.0
    for i, (_, held_out) in enumerate(splits):
        groups[held_out, i] = 1.0
    sums, squares = column_sums_by_group(x, centre, groups)
    n_fit = (len(x) - groups[:, :-1].sum(axis=0))[:, None]
    mean = (sums[-1] - sums[:-1]) / n_fit
    variance = (squares[-1] - squares[:-1]) / n_fit - mean**2
    # constant on the training rows within the rounding of the difference of sums (ε Σ x²): a sparse
    # column that is 0 on every training row but not on some held-out row lands here
    constant = variance <= np.finfo(np.float64).eps * squares[-1]
    scale = np.where(constant, 1.0, np.sqrt(np.maximum(variance, 0.0)))
    train = groups.T == 0  # a split's training rows: those not held out
    train[-1] = True
    return Problems(
        x=x - centre.astype(x.dtype),
        y=y.astype(np.float64),
        train=train,
        shift=np.vstack([mean, full_scaling[0] - centre]),
        scale=np.vstack([scale, full_scaling[1]]),
    )


def _blocks(size: int) -> list[slice]:
    """:data:`BLOCKS` near-equal consecutive parts of ``range(size)``, by size alone (not by threads)."""
    edges = np.linspace(0, size, BLOCKS + 1).round().astype(int)
    return [slice(int(start), int(stop)) for start, stop in pairwise(edges) if stop > start]


class _Products:
    """The two products with the shared matrix, in fixed blocks on single-threaded workers."""

    def __init__(self, x: np.ndarray, pool: ThreadPoolExecutor) -> None:
        self.x, self.pool = x, pool
        self.rows, self.columns = _blocks(x.shape[0]), _blocks(x.shape[1])

    def margins(self, v: np.ndarray) -> np.ndarray:
        """``x @ v`` in float64, for v of shape (d, k) (multiplied in float32)."""
        v, out = v.astype(np.float32), np.empty((self.x.shape[0], v.shape[1]), np.float32)
        list(self.pool.map(lambda rows: np.matmul(self.x[rows], v, out=out[rows]), self.rows))
        return out.astype(np.float64)

    def weighted_sums(self, r: np.ndarray) -> np.ndarray:
        """``x.T @ r`` in float64, for r of shape (n, k) (multiplied in float32, as ``r.T @ x``: with
        OpenBLAS a third faster than ``x.T @ r`` for k ≈ 26)."""
        rt, out = np.ascontiguousarray(r.T, dtype=np.float32), np.empty((r.shape[1], self.x.shape[1]), np.float32)
        list(self.pool.map(lambda cols: np.matmul(rt, self.x[:, cols], out=out[:, cols]), self.columns))
        return out.T.astype(np.float64)


def _preconditioner(products: _Products, shift: np.ndarray, scale: np.ndarray, weights: np.ndarray) -> Precondition:
    """``apply(q, l2)``: ``(Σ_D + l2 I)⁻¹ q`` on the coefficients and ``q / Σ weights`` on the
    intercept, one row of q per problem; ``Σ_D = Xₛ' diag(weights) Xₛ``, Xₛ the rows standardised by
    (shift, scale) and ``weights`` (n,) the Hessian's weight of each row (D / n, 0 off its rows)."""
    x, d = products.x, products.x.shape[1]
    column_shift = shift / scale

    def sigma(v: np.ndarray) -> np.ndarray:
        t = (products.margins(v / scale[:, None]) - column_shift @ v) * weights[:, None]
        return (products.weighted_sums(t) - np.outer(column_shift, t.sum(axis=0))) / scale[:, None]

    with threadpool_limits(1):
        if d <= FULL_PRECONDITIONER:
            values, vectors = np.linalg.eigh(sigma(np.eye(d)))
            trace, rank = values.sum(), d
        else:
            omega = np.random.default_rng(0).standard_normal((d, PRECONDITIONER_RANK + OVERSAMPLING))
            basis = np.linalg.qr(sigma(np.linalg.qr(sigma(omega))[0]))[0]  # one power iteration
            small = basis.T @ sigma(basis)
            values, rotation = np.linalg.eigh((small + small.T) / 2)
            values, vectors = values[-PRECONDITIONER_RANK:], basis @ rotation[:, -PRECONDITIONER_RANK:]
            trace = float((column_sums_by_group(x, shift, weights[:, None])[1][0] / scale**2).sum())
            rank = PRECONDITIONER_RANK
    curvature = np.maximum(values, 0.0)
    rest = (trace - curvature.sum()) / (d - rank) if rank < d else trace / d  # the other eigenvalues' mean
    rest = max(rest, 1e-6 * trace / d, 1e-300)
    intercept = max(float(weights.sum()), 1e-300)

    def apply(q: np.ndarray, l2: np.ndarray) -> np.ndarray:
        out = np.empty_like(q)
        inside = q[:, :-1] @ vectors
        out[:, :-1] = (q[:, :-1] - inside @ vectors.T) / (rest + l2[:, None])
        out[:, :-1] += (inside / (curvature + l2[:, None])) @ vectors.T
        out[:, -1] = q[:, -1] / intercept
        return out

    return apply


class _History:
    """Each problem's last :data:`MEMORY` curvature pairs, newest first (an empty slot has ρ = 0),
    stored slot-major so that a slot of every problem is one contiguous block."""

    def __init__(self, problems: int, size: int) -> None:
        self.s = np.zeros((MEMORY, problems, size))
        self.y = np.zeros((MEMORY, problems, size))
        self.rho = np.zeros((MEMORY, problems))

    def push(self, which: np.ndarray, s: np.ndarray, y: np.ndarray) -> None:
        """Add a pair to each problem of ``which`` whose curvature sᵀy is positive."""
        curvature = np.einsum("pd,pd->p", s, y)
        keep = curvature > 1e-12 * np.einsum("pd,pd->p", y, y)
        which, s, y, curvature = which[keep], s[keep], y[keep], curvature[keep]
        for store in (self.s, self.y, self.rho):
            store[1:, which] = store[:-1, which]
        self.s[0, which], self.y[0, which], self.rho[0, which] = s, y, 1.0 / curvature

    def change_penalty(self, p: int, change: float) -> None:
        """Problem p's pairs under its new penalty: each y gains ``change · s`` on the coefficients
        (sᵀy stays positive: the new objective is still strongly convex)."""
        kept = self.rho[:, p] > 0
        self.y[kept, p, :-1] += change * self.s[kept, p, :-1]
        self.rho[kept, p] = 1.0 / np.einsum("md,md->m", self.s[kept, p], self.y[kept, p])

    def direction(self, rows: slice, g: np.ndarray, l2: np.ndarray, precondition: Precondition) -> np.ndarray:
        """−H g for the problems ``rows`` (a row of g each): the two-loop recursion with H₀ = γ P, P
        the preconditioner and γ = sᵀy / yᵀPy of the newest pair (1 without pairs)."""
        s, y, rho = self.s[:, rows], self.y[:, rows], self.rho[:, rows]
        q = g.copy()
        alpha = np.zeros((MEMORY, len(g)))
        for i in range(MEMORY):
            alpha[i] = rho[i] * np.einsum("pd,pd->p", s[i], q)
            q -= alpha[i, :, None] * y[i]
        y_p_y = np.einsum("pd,pd->p", y[0], precondition(y[0], l2))
        gamma = np.where((rho[0] > 0) & (y_p_y > 0), 1.0 / np.maximum(rho[0] * y_p_y, 1e-300), 1.0)
        r = gamma[:, None] * precondition(q, l2)
        for i in reversed(range(MEMORY)):
            beta = rho[i] * np.einsum("pd,pd->p", y[i], r)
            r += (alpha[i] - beta)[:, None] * s[i]
        return -r


class _Batch:
    """Every problem's place on its path: C, point, objective, gradient, margins, direction, step."""

    def __init__(
        self, problems: Problems, products: _Products, c_sorted: Sequence[float], tol: float, coef_tol: float
    ) -> None:
        self.problems, self.products, self.c_sorted = problems, products, list(c_sorted)
        self.tol, self.coef_tol = tol, coef_tol
        n_problems, size = problems.train.shape[0], problems.x.shape[1] + 1
        self.n_train = problems.train.sum(axis=1).astype(np.float64)
        largest = int(np.argmax(self.n_train))
        weights = np.where(problems.train[largest], 0.25 / self.n_train[largest], 0.0)  # the Hessian at w = 0
        first = _preconditioner(products, problems.shift[largest], problems.scale[largest], weights)
        self.preconditioners: list[Precondition | None] = [first] + [None] * (len(self.c_sorted) - 1)
        self.c_index, self.iterations = np.zeros(n_problems, int), np.zeros(n_problems, int)
        self.evaluations = np.ones(n_problems, int)
        self.l2 = 1.0 / (self.c_sorted[0] * self.n_train)
        self.theta = np.zeros((n_problems, size))
        everyone = np.arange(n_problems)
        self.z = self.margins(everyone, self.theta)
        self.objective = self.objective_at(everyone, self.theta, self.z)
        self.gradient = self.gradient_at(everyone, self.theta, self.z)
        self.before = self.objective.copy()
        self.history = _History(n_problems, size)
        self.direction, self.step = np.zeros((n_problems, size)), np.ones(n_problems)
        self.dz = np.zeros_like(self.z)  # the margins of each direction
        self.slope, self.backtracks = np.zeros(n_problems), np.zeros(n_problems, int)
        self.done = np.zeros(n_problems, bool)
        self.chunks = [slice(start, start + CHUNK) for start in range(0, n_problems, CHUNK)]
        self.aim(everyone)

    def margins(self, which: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """Every row's margin (n, len(which)) under the coefficients ``theta`` (a row per problem),
        each in its problem's scaling."""
        v = theta[:, :-1] / self.problems.scale[which]
        return self.products.margins(v.T) + (theta[:, -1] - np.einsum("pd,pd->p", self.problems.shift[which], v))

    def objective_at(self, which: np.ndarray, theta: np.ndarray, z: np.ndarray) -> np.ndarray:
        """The objective of the problems ``which`` at ``theta``, whose margins are ``z``."""
        train, y, w = self.problems.train[which].T, self.problems.y[:, None], theta[:, :-1]
        loss = np.where(train, np.logaddexp(0.0, z) - y * z, 0.0).sum(axis=0) / self.n_train[which]
        return loss + 0.5 * self.l2[which] * np.einsum("pd,pd->p", w, w)

    def gradient_at(self, which: np.ndarray, theta: np.ndarray, z: np.ndarray) -> np.ndarray:
        """The gradient of the problems ``which`` at ``theta``, whose margins are ``z``."""
        shift, scale, train = self.problems.shift[which], self.problems.scale[which], self.problems.train[which].T
        r = np.where(train, expit(z) - self.problems.y[:, None], 0.0) / self.n_train[which]
        r_sum = r.sum(axis=0)
        gradient = np.empty_like(theta)
        gradient[:, :-1] = (self.products.weighted_sums(r).T - shift * r_sum[:, None]) / scale
        gradient[:, :-1] += self.l2[which, None] * theta[:, :-1]
        gradient[:, -1] = r_sum
        return gradient

    def precondition(self, which: np.ndarray, q: np.ndarray, l2: np.ndarray) -> np.ndarray:
        """Each row of q preconditioned for its problem (``which``): by the preconditioner of its C."""
        out, levels = np.empty_like(q), self.c_index[which]
        for level in np.unique(levels):
            rows = levels == level
            out[rows] = self.preconditioners[level](q[rows], l2[rows])
        return out

    def aim(self, which: np.ndarray) -> None:
        """New directions, unit steps and slopes for ``which`` from their gradients."""
        gradient, l2 = self.gradient[which], self.l2[which]
        direction = np.concatenate(list(self.products.pool.map(self.chunk_direction, self.chunks)))[which]
        slope = np.einsum("pd,pd->p", direction, gradient)
        uphill = slope >= 0  # not in exact arithmetic; then the preconditioned gradient
        direction[uphill] = -self.precondition(which[uphill], gradient[uphill], l2[uphill])
        slope[uphill] = np.einsum("pd,pd->p", direction[uphill], gradient[uphill])
        self.direction[which], self.slope[which] = direction, slope
        self.dz[:, which] = self.margins(which, direction)  # a trial's margins are z + step · dz: no product
        self.step[which], self.backtracks[which] = 1.0, 0

    def chunk_direction(self, rows: slice) -> np.ndarray:
        """The directions of a fixed chunk of problems (every problem's, used or not: views, no copies;
        fixed chunks, so the bits do not depend on the number of threads)."""
        which = np.arange(len(self.done))[rows]
        return self.history.direction(
            rows, self.gradient[rows], self.l2[rows], lambda q, l2: self.precondition(which, q, l2)
        )

    def run(self, paths: Paths, max_iter: int) -> None:
        """Step every unfinished problem together until every path is done."""
        while not self.done.all():
            active = np.flatnonzero(~self.done)
            step = self.step[active]
            trial = self.theta[active] + step[:, None] * self.direction[active]
            z = self.z[:, active] + step * self.dz[:, active]
            objective = self.objective_at(active, trial, z)
            self.evaluations[active] += 1
            enough = objective <= self.objective[active] + ARMIJO * step * self.slope[active]
            stuck = self.backtrack(active[~enough], objective[~enough])
            accepted = active[enough]
            gradient = self.gradient_at(accepted, trial[enough], z[:, enough])
            self.move(accepted, trial[enough], objective[enough], gradient, z[:, enough])
            met, stalled = self.stopping_test(accepted)
            stop = met | stalled | (self.iterations[accepted] >= max_iter)
            for p, converged in [*zip(accepted[stop], met[stop], strict=True), *((p, False) for p in stuck)]:
                self.record(int(p), paths, bool(converged))
            moving = np.concatenate([accepted, stuck])
            self.aim(moving[~self.done[moving]])

    def backtrack(self, which: np.ndarray, objective: np.ndarray) -> np.ndarray:
        """Shorter steps for ``which`` (the minimum of the parabola through the objective, its slope
        and the trial, kept within 0.1–0.5 of the step); those that backtracked too often."""
        step, slope = self.step[which], self.slope[which]
        excess = objective - self.objective[which] - slope * step
        parabola = -slope * step**2 / (2 * np.maximum(excess, 1e-300))
        self.step[which] = np.clip(np.where(excess > 0, parabola, 0.5 * step), 0.1 * step, 0.5 * step)
        self.backtracks[which] += 1
        return which[self.backtracks[which] > MAX_BACKTRACKS]

    def move(self, which: np.ndarray, theta: np.ndarray, objective: np.ndarray, gradient: np.ndarray, z) -> None:
        """Take the accepted steps and keep their curvature pairs."""
        self.history.push(which, theta - self.theta[which], gradient - self.gradient[which])
        self.before[which] = self.objective[which]
        self.theta[which], self.objective[which], self.gradient[which] = theta, objective, gradient
        self.z[:, which] = z
        self.iterations[which] += 1

    def stopping_test(self, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For ``which``: whether the gradient test is met (largest entry ≤ ``min(tol, coef_tol · l2)``),
        and whether the objective's relative decrease was at most :data:`FTOL` (stalled)."""
        before, now = self.before[which], self.objective[which]
        stalled = before - now <= FTOL * np.maximum(np.maximum(np.abs(before), np.abs(now)), 1.0)
        bound = np.minimum(self.tol, self.coef_tol * self.l2[which])
        return np.abs(self.gradient[which]).max(axis=1) <= bound, stalled

    def record(self, p: int, paths: Paths, converged: bool) -> None:
        """Record problem p at its C and move it to the next C (or mark its path done)."""
        k = self.c_index[p]
        held_out = ~self.problems.train[p]
        if held_out.any():
            paths.losses[p, k] = binary_log_loss(self.problems.y[held_out], expit(self.z[held_out, p]))
        paths.coefs[p, k], paths.iterations[p, k], paths.converged[p, k] = self.theta[p], self.iterations[p], converged
        paths.gradients[p, k] = np.abs(self.gradient[p]).max()
        if k + 1 == len(self.c_sorted):
            self.done[p] = True
            return
        new_l2 = 1.0 / (self.c_sorted[k + 1] * self.n_train[p])
        change, w = new_l2 - self.l2[p], self.theta[p, :-1]
        self.objective[p] += 0.5 * change * np.dot(w, w)
        self.gradient[p, :-1] += change * w
        self.history.change_penalty(p, change)
        self.c_index[p], self.l2[p], self.iterations[p] = k + 1, new_l2, 0
        if self.preconditioners[k + 1] is None:  # the first problem at this C: its weights at the C before
            self.preconditioners[k + 1] = self.next_preconditioner(p, k)

    def next_preconditioner(self, p: int, k: int) -> Precondition:
        """The preconditioner of problem p's Hessian at its current point, in its scaling, when exact
        (at most :data:`FULL_PRECONDITIONER` features); else C number k's (see the module's text)."""
        if self.problems.x.shape[1] > FULL_PRECONDITIONER:
            return self.preconditioners[k]  # type: ignore[return-value]
        z = self.z[:, p]
        weights = np.where(self.problems.train[p], expit(z) * expit(-z), 0.0) / self.n_train[p]
        return _preconditioner(self.products, self.problems.shift[p], self.problems.scale[p], weights)


def solve(
    problems: Problems,
    c_sorted: Sequence[float],
    *,
    max_iter: int,
    tol: float,
    coef_tol: float = COEF_TOL,
    threads: int = 1,
) -> Paths:
    """Every problem's path over ``c_sorted`` (increasing), all problems stepped together on
    ``threads`` threads (the same bits for any number); a fit converges when its largest gradient
    entry is at most ``min(tol, coef_tol · l2)``."""
    n_problems, size = problems.train.shape[0], problems.x.shape[1] + 1
    paths = Paths(
        losses=np.full((n_problems, len(c_sorted)), np.nan),
        coefs=np.zeros((n_problems, len(c_sorted), size)),
        iterations=np.zeros((n_problems, len(c_sorted)), int),
        gradients=np.zeros((n_problems, len(c_sorted))),
        converged=np.zeros((n_problems, len(c_sorted)), bool),
        evaluations=np.zeros(n_problems, int),
    )
    with threadpool_limits(1), ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        batch = _Batch(problems, _Products(problems.x, pool), c_sorted, tol, coef_tol)
        batch.run(paths, max_iter)
    paths.evaluations[:] = batch.evaluations
    return paths
