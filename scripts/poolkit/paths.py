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
coordinates. A fit stops as scikit-learn's lbfgs does: when the largest gradient entry is at most
``tol``, or the objective's relative decrease is at most 64 ε. Each split's path runs in increasing
C, warm-started from its previous C, and keeps its curvature pairs (a new penalty shifts each pair's
gradient difference by a known term). No library offers an L-BFGS over problems that share a matrix;
the steps are the textbook ones (Nocedal & Wright, *Numerical Optimization*, Algorithm 7.4), with a
backtracking Armijo line search, which suffices because the objective is strongly convex.

The initial inverse Hessian is ``(Σ / 4 + l2 I)⁻¹``, Σ the correlation matrix of the rows (the
logistic Hessian is ``X' D X / n + l2 I`` with D ≤ 1/4): exact for at most
:data:`FULL_PRECONDITIONER` features, else its :data:`PRECONDITIONER_RANK` leading eigenpairs (a
seeded randomised range finder) and the mean of the other eigenvalues. On the full-size features it
cut the Flatten head's steps about fourfold and the pixel head's (ill-conditioned) about fiftyfold.

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
#: Armijo's sufficient-decrease constant, and the step reductions after which a fit is stopped.
ARMIJO, MAX_BACKTRACKS = 1e-4, 40
#: scikit-learn's lbfgs stops when the objective's relative decrease is at most this.
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
    the intercept last, L-BFGS iterations, and whether the stopping test was met (not ``max_iter``
    or a failed line search)."""

    losses: np.ndarray  # (problems, C)
    coefs: np.ndarray  # (problems, C, d + 1)
    iterations: np.ndarray  # (problems, C)
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


def _preconditioner(products: _Products, shift: np.ndarray, scale: np.ndarray) -> Precondition:
    """``apply(q, l2)``: ``(Σ / 4 + l2 I)⁻¹ q`` on the coefficients and ``4 q`` on the intercept, one
    row of q per problem; Σ the correlation matrix of the rows standardised by (shift, scale)."""
    x, d = products.x, products.x.shape[1]
    column_shift = shift / scale

    def sigma(v: np.ndarray) -> np.ndarray:
        t = products.margins(v / scale[:, None]) - column_shift @ v
        return (products.weighted_sums(t) - np.outer(column_shift, t.sum(axis=0))) / scale[:, None] / len(x)

    with threadpool_limits(1):
        if d <= FULL_PRECONDITIONER:
            values, vectors = np.linalg.eigh(sigma(np.eye(d)))
            rest = 1.0
        else:
            omega = np.random.default_rng(0).standard_normal((d, PRECONDITIONER_RANK + OVERSAMPLING))
            basis = np.linalg.qr(sigma(np.linalg.qr(sigma(omega))[0]))[0]  # one power iteration
            small = basis.T @ sigma(basis)
            values, rotation = np.linalg.eigh((small + small.T) / 2)
            values, vectors = values[-PRECONDITIONER_RANK:], basis @ rotation[:, -PRECONDITIONER_RANK:]
            rest = max((d - values.sum()) / (d - PRECONDITIONER_RANK), 1e-6)  # trace(Σ) ≤ d
    curvature = np.maximum(values, 0.0) / 4

    def apply(q: np.ndarray, l2: np.ndarray) -> np.ndarray:
        out = np.empty_like(q)
        inside = q[:, :-1] @ vectors
        out[:, :-1] = (q[:, :-1] - inside @ vectors.T) / (rest / 4 + l2[:, None])
        out[:, :-1] += (inside / (curvature + l2[:, None])) @ vectors.T
        out[:, -1] = 4 * q[:, -1]
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

    def __init__(self, problems: Problems, products: _Products, c_sorted: Sequence[float]) -> None:
        self.problems, self.products, self.c_sorted = problems, products, list(c_sorted)
        n_problems, size = problems.train.shape[0], problems.x.shape[1] + 1
        self.n_train = problems.train.sum(axis=1).astype(np.float64)
        largest = int(np.argmax(self.n_train))
        self.precondition = _preconditioner(products, problems.shift[largest], problems.scale[largest])
        self.c_index, self.iterations = np.zeros(n_problems, int), np.zeros(n_problems, int)
        self.evaluations = np.ones(n_problems, int)
        self.l2 = 1.0 / (self.c_sorted[0] * self.n_train)
        self.theta = np.zeros((n_problems, size))
        everyone = np.arange(n_problems)
        self.objective, self.gradient, self.z = self.evaluate(everyone, self.theta)
        self.before = self.objective.copy()
        self.history = _History(n_problems, size)
        self.direction, self.step = np.zeros((n_problems, size)), np.ones(n_problems)
        self.slope, self.backtracks = np.zeros(n_problems), np.zeros(n_problems, int)
        self.done = np.zeros(n_problems, bool)
        self.chunks = [slice(start, start + CHUNK) for start in range(0, n_problems, CHUNK)]
        self.aim(everyone)

    def evaluate(self, which: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Objective and gradient of the problems ``which`` at ``theta`` (a row each), and every
        row's margin under each (n, len(which))."""
        shift, scale, train = self.problems.shift[which], self.problems.scale[which], self.problems.train[which].T
        w = theta[:, :-1]
        v = w / scale
        z = self.products.margins(v.T) + (theta[:, -1] - np.einsum("pd,pd->p", shift, v))
        y = self.problems.y[:, None]
        loss = np.where(train, np.logaddexp(0.0, z) - y * z, 0.0).sum(axis=0) / self.n_train[which]
        r = np.where(train, expit(z) - y, 0.0) / self.n_train[which]
        r_sum = r.sum(axis=0)
        gradient = np.empty_like(theta)
        gradient[:, :-1] = (self.products.weighted_sums(r).T - shift * r_sum[:, None]) / scale
        gradient[:, :-1] += self.l2[which, None] * w
        gradient[:, -1] = r_sum
        return loss + 0.5 * self.l2[which] * np.einsum("pd,pd->p", w, w), gradient, z

    def aim(self, which: np.ndarray) -> None:
        """New directions, unit steps and slopes for ``which`` from their gradients."""
        gradient, l2 = self.gradient[which], self.l2[which]
        direction = np.concatenate(list(self.products.pool.map(self.chunk_direction, self.chunks)))[which]
        slope = np.einsum("pd,pd->p", direction, gradient)
        uphill = slope >= 0  # not in exact arithmetic; then the preconditioned gradient
        direction[uphill] = -self.precondition(gradient[uphill], l2[uphill])
        slope[uphill] = np.einsum("pd,pd->p", direction[uphill], gradient[uphill])
        self.direction[which], self.slope[which] = direction, slope
        self.step[which], self.backtracks[which] = 1.0, 0

    def chunk_direction(self, rows: slice) -> np.ndarray:
        """The directions of a fixed chunk of problems (every problem's, used or not: views, no copies;
        fixed chunks, so the bits do not depend on the number of threads)."""
        return self.history.direction(rows, self.gradient[rows], self.l2[rows], self.precondition)

    def run(self, paths: Paths, max_iter: int, tol: float) -> None:
        """Step every unfinished problem together until every path is done."""
        while not self.done.all():
            active = np.flatnonzero(~self.done)
            trial = self.theta[active] + self.step[active, None] * self.direction[active]
            objective, gradient, z = self.evaluate(active, trial)
            self.evaluations[active] += 1
            enough = objective <= self.objective[active] + ARMIJO * self.step[active] * self.slope[active]
            stuck = self.backtrack(active[~enough], objective[~enough])
            accepted = active[enough]
            self.move(accepted, trial[enough], objective[enough], gradient[enough], z[:, enough])
            met = self.stopping_test(accepted, tol)
            stop = met | (self.iterations[accepted] >= max_iter)
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

    def stopping_test(self, which: np.ndarray, tol: float) -> np.ndarray:
        """scikit-learn's lbfgs tests for ``which``: largest gradient entry ≤ tol, or a relative
        decrease of the objective ≤ :data:`FTOL`."""
        before, now = self.before[which], self.objective[which]
        stalled = before - now <= FTOL * np.maximum(np.maximum(np.abs(before), np.abs(now)), 1.0)
        return (np.abs(self.gradient[which]).max(axis=1) <= tol) | stalled

    def record(self, p: int, paths: Paths, converged: bool) -> None:
        """Record problem p at its C and move it to the next C (or mark its path done)."""
        k = self.c_index[p]
        held_out = ~self.problems.train[p]
        if held_out.any():
            paths.losses[p, k] = binary_log_loss(self.problems.y[held_out], expit(self.z[held_out, p]))
        paths.coefs[p, k], paths.iterations[p, k], paths.converged[p, k] = self.theta[p], self.iterations[p], converged
        if k + 1 == len(self.c_sorted):
            self.done[p] = True
            return
        new_l2 = 1.0 / (self.c_sorted[k + 1] * self.n_train[p])
        change, w = new_l2 - self.l2[p], self.theta[p, :-1]
        self.objective[p] += 0.5 * change * np.dot(w, w)
        self.gradient[p, :-1] += change * w
        self.history.change_penalty(p, change)
        self.c_index[p], self.l2[p], self.iterations[p] = k + 1, new_l2, 0


def solve(problems: Problems, c_sorted: Sequence[float], *, max_iter: int, tol: float, threads: int = 1) -> Paths:
    """Every problem's path over ``c_sorted`` (increasing), all problems stepped together on
    ``threads`` threads (the same bits for any number)."""
    n_problems, size = problems.train.shape[0], problems.x.shape[1] + 1
    paths = Paths(
        losses=np.full((n_problems, len(c_sorted)), np.nan),
        coefs=np.zeros((n_problems, len(c_sorted), size)),
        iterations=np.zeros((n_problems, len(c_sorted)), int),
        converged=np.zeros((n_problems, len(c_sorted)), bool),
        evaluations=np.zeros(n_problems, int),
    )
    with threadpool_limits(1), ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        batch = _Batch(problems, _Products(problems.x, pool), c_sorted)
        batch.run(paths, max_iter, tol)
    paths.evaluations[:] = batch.evaluations
    return paths
