#!/usr/bin/python3
"""tests/bench_peers/bilevel_numpy.py — SOBA and SABA in plain numpy, the
benchmark peer of hypertape's `tune --algo soba|saba` on the
regularisation-selection problem (README, "Logistic regression: sums or
means, the intercept, the peers' conventions"):

    G(θ, λ) = (1/n) Σ_i log(1 + e^{−y_i⟨x_i, θ⟩}) + ½ Σ_k e^{λ_k} θ_k²
    F(θ)    = (1/m) Σ_j log(1 + e^{−y_j⟨x_j, θ⟩})

no intercept, one λ per feature, λ kept in the box [−12, 12].

Run (one seed, a wall-time budget; the data loading is not timed):

    /usr/bin/python3 bilevel_numpy.py --train A.svm --val B.svm --algo soba \\
        --batch-size 64 --inner-step 0.03125 --outer-step 3.125 \\
        --step-schedule decay:0.5,0.5 --seed 1 --seconds 60 --json

or a fixed number of iterations (--iters K). Prints one JSON object
{"algo", "seed", "lambda", "iters", "seconds", "sampler", "batch_inner",
"batch_outer"} with --json, a line of text otherwise. bilevel_benchopt.py
imports this module and calls run() directly for its correctness checks.

The updates are those of hypertape's bilevel/outer_soba.c and outer_saba.c
(README, "Stochastic algorithms"), in the same order and with the same
step conventions, at iteration t = 1, 2, ...:
  ρ_t = ρ·t^{−a}, γ_t = γ·t^{−b} (a = b = 0: constant);
  all directions at (θ_t, v_t, λ_t), from an inner batch i and an outer
  batch j:  D_θ = ∇_θG_i,  D_v = H_i v + ∇_θF_j,  D_λ = cross_i(v) + ∇_λF_j;
  θ −= ρ_t D_θ,  v −= ρ_t D_v,  λ ← clip(λ − γ_t D_λ, −12, 12);
  θ_0 = v_0 = 0, λ_0 = 0 (tune's default start).
SABA replaces each of the five batch means by its SAGA estimate
(1/|S|) Σ_{k∈S} (q_k − T[k]) + mean(T) over per-sample tables filled at
(θ_0, v_0, λ_0) (not timed: hypertape fills them in bl_outer_set, outside
the run's clock); then the rows of S are stored and the means updated, a
repeated index counting once. Batches are drawn with replacement (hypertape's
default sample mode), inner and outer from two generators; a batch of at
least the sample count is the full batch, not sampled.

Samplers (--sampler): `numpy` (default) draws with numpy's PCG64,
`xoshiro` replays hypertape's own stream exactly (bilevel/sampler.c:
xoshiro256** seeded by splitmix64, Lemire's bounded integers; outer seed =
seed + 0x9E3779B97F4A7C15), in pure Python, so only for short checks.

This is plain vectorised numpy (no numba; benchopt's numpy solvers use numba
in places): a batch is gathered with one fancy index, the three inner
quantities share one product with [θ v], and SABA keeps its three inner
tables side by side in one n×3d array and its two outer tables in one
m×2d array, so each step is a few dozen numpy calls whatever d is. Written
from the formulas above; no benchopt code is used.
"""
import argparse
import json
import sys
import time

import numpy as np

OUTER_SEED_SHIFT = 0x9E3779B97F4A7C15
M64 = (1 << 64) - 1


# ------------------------------------------------------------------- data

def read_libsvm(path, d=None):
    """X (n×d float64, dense), y (n, ±1) from a LIBSVM file; labels > 0 are
    +1, the others −1; d = the largest feature index unless given."""
    ys, rows, cols, vals = [], [], [], []
    with open(path) as f:
        for i, line in enumerate(f):
            parts = line.split()
            if not parts:
                continue
            r = len(ys)
            ys.append(1.0 if float(parts[0]) > 0 else -1.0)
            for tok in parts[1:]:
                j, v = tok.split(":", 1)
                rows.append(r)
                cols.append(int(j) - 1)
                vals.append(float(v))
    if not ys:
        raise ValueError(f"{path}: no samples")
    cols = np.asarray(cols, dtype=np.int64)
    width = int(cols.max()) + 1 if cols.size else 0
    if d is None:
        d = width
    elif width > d:
        raise ValueError(f"{path}: feature index {width} > d = {d}")
    X = np.zeros((len(ys), d))
    X[np.asarray(rows, dtype=np.int64), cols] = vals
    return X, np.asarray(ys)


def load_pair(train, val):
    """The training and validation sets, widened to the same d."""
    X, y = read_libsvm(train)
    Xv, yv = read_libsvm(val)
    d = max(X.shape[1], Xv.shape[1])
    if X.shape[1] < d:
        X = np.hstack([X, np.zeros((X.shape[0], d - X.shape[1]))])
    if Xv.shape[1] < d:
        Xv = np.hstack([Xv, np.zeros((Xv.shape[0], d - Xv.shape[1]))])
    return np.ascontiguousarray(X), y, np.ascontiguousarray(Xv), yv


def sigmoid(s):
    """1/(1 + e^{−s}) without overflow, as models/logreg.c computes it."""
    e = np.exp(-np.abs(s))
    r = 1.0 / (1.0 + e)
    return np.where(s >= 0, r, e * r)


# ------------------------------------------------------------------- samplers

class NumpySampler:
    """Batches of b indices in [0, n), with replacement, drawn CHUNK
    iterations at a time (numpy's PCG64 seeded with `seed`)."""
    CHUNK = 1024

    def __init__(self, n, b, seed):
        self.n, self.b = n, b
        self.rng = np.random.default_rng(seed)
        self.k = self.CHUNK

    def chunk(self):
        return self.rng.integers(0, self.n, size=(self.CHUNK, self.b))


class XoshiroSampler:
    """hypertape's sampler (bilevel/sampler.c, with replacement) in pure
    Python: the same indices for the same (n, seed)."""
    CHUNK = 64

    def __init__(self, n, b, seed):
        self.n, self.b = n, b
        x = seed & M64
        s = []
        for _ in range(4):  # splitmix64
            x = (x + 0x9E3779B97F4A7C15) & M64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            s.append(z ^ (z >> 31))
        self.s = s

    def _next(self):  # xoshiro256**
        s = self.s
        rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & M64
        r = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return r

    def _below(self, m):  # Lemire's multiply-shift with rejection
        x = (self._next() >> 32) * m
        lo = x & 0xFFFFFFFF
        if lo < m:
            t = ((1 << 32) - m) % m
            while lo < t:
                x = (self._next() >> 32) * m
                lo = x & 0xFFFFFFFF
        return x >> 32

    def chunk(self):
        return np.array([[self._below(self.n) for _ in range(self.b)]
                         for _ in range(self.CHUNK)], dtype=np.int64)


def first_occurrences(I):
    """For a chunk I (K×b): mask (K×b) true at each index's first occurrence
    in its row, and has (K) true for the rows with a repeated index."""
    order = np.argsort(I, axis=1, kind="stable")
    s = np.take_along_axis(I, order, axis=1)
    dup = s[:, 1:] == s[:, :-1]
    mask = np.ones(I.shape, dtype=bool)
    rr, cc = np.nonzero(dup)
    mask[rr, order[rr, cc + 1]] = False
    return mask, dup.any(axis=1)


class Batches:
    """The index stream of one side: None for the full batch, else rows of
    chunks from a sampler, with the first-occurrence masks SABA needs."""

    def __init__(self, n, b, seed, kind, masks):
        self.full = b >= n
        self.b = n if self.full else b
        self.masks = masks
        self.sampler = None if self.full else (
            XoshiroSampler if kind == "xoshiro" else NumpySampler)(n, b, seed)
        self.pos = 0
        self.I = None

    def draw(self):
        """(idx, mask): idx None for the full batch; mask None when no index
        repeats (or masks were not asked for)."""
        if self.full:
            return None, None
        if self.I is None or self.pos == len(self.I):
            self.I = self.sampler.chunk()
            if self.masks:
                self.M, self.has = first_occurrences(self.I)
            self.pos = 0
        k = self.pos
        self.pos += 1
        if self.masks and self.has[k]:
            return self.I[k], self.M[k]
        return self.I[k], None


# ------------------------------------------------------------------- the algorithms

class State:
    """θ, v, λ and the data of one run."""

    def __init__(self, X, y, Xv, yv, lam0, box):
        self.X, self.y, self.Xv, self.yv = X, y, Xv, yv
        self.n, self.d = X.shape
        self.m = Xv.shape[0]
        self.theta = np.zeros(self.d)
        self.v = np.zeros(self.d)
        self.lam = np.array(lam0, dtype=float)
        self.lo, self.hi = box
        np.clip(self.lam, self.lo, self.hi, out=self.lam)
        self.W = np.empty((self.d, 2))  # [θ v], one product for both


def inner_terms(st, Xi, yi):
    """c (b) and cv (b) with ∇_θG_i = c_i x_i + e^λθ, H_i v = cv_i x_i + e^λv:
    c = −y σ(−y xᵀθ), cv = σ(1 − σ) xᵀv."""
    st.W[:, 0] = st.theta
    st.W[:, 1] = st.v
    S = Xi @ st.W
    sg = sigmoid(-yi * S[:, 0])
    return -yi * sg, sg * (1.0 - sg) * S[:, 1]


def outer_coef(st, Xo, yo):
    """co (b) with ∇_θF_j = co_j x_j."""
    return -yo * sigmoid(-yo * (Xo @ st.theta))


def steps(rho, gamma, a, b, t):
    return (rho * t ** (-a) if a > 0 else rho), (gamma * t ** (-b) if b > 0 else gamma)


def move(st, rho, gamma, dth, dv, dla):
    st.theta -= rho * dth
    st.v -= rho * dv
    st.lam -= gamma * dla
    np.clip(st.lam, st.lo, st.hi, out=st.lam)


def batch_data(st, bi, bo):
    """Draws the inner and outer batches: their rows (the whole set for a
    full batch) and the draws' repeat masks."""
    ii, mi = bi.draw()
    oo, mo = bo.draw()
    Xi, yi = (st.X, st.y) if ii is None else (st.X[ii], st.y[ii])
    Xo, yo = (st.Xv, st.yv) if oo is None else (st.Xv[oo], st.yv[oo])
    return ii, mi, Xi, yi, oo, mo, Xo, yo


def soba_step(st, bi, bo, rho, gamma):
    _, _, Xi, yi, _, _, Xo, yo = batch_data(st, bi, bo)
    e = np.exp(st.lam)
    c, cv = inner_terms(st, Xi, yi)
    D = Xi.T @ np.column_stack((c, cv))  # (d, 2): Σ c_i x_i, Σ cv_i x_i
    D /= bi.b
    dth = D[:, 0] + e * st.theta
    hv = D[:, 1] + e * st.v
    cross = e * st.theta * st.v
    fT = (Xo.T @ outer_coef(st, Xo, yo)) / bo.b
    move(st, rho, gamma, dth, hv + fT, cross)  # ∇_λF = 0: F does not depend on λ


class SagaTables:
    """SABA's memories: T_in (n×3d: ∇_θG_i, H_i v, cross_i(v)), T_out
    (m×2d: ∇_θF_j, ∇_λF_j) and their column means."""

    def __init__(self, st):
        d = st.d
        e = np.exp(st.lam)
        c, cv = inner_terms(st, st.X, st.y)
        self.T_in = np.empty((st.n, 3 * d))
        self.T_in[:, :d] = c[:, None] * st.X + e * st.theta
        self.T_in[:, d:2 * d] = cv[:, None] * st.X + e * st.v
        self.T_in[:, 2 * d:] = e * st.theta * st.v
        self.T_out = np.zeros((st.m, 2 * d))
        self.T_out[:, :d] = outer_coef(st, st.Xv, st.yv)[:, None] * st.Xv
        self.mu_in = self.T_in.mean(axis=0)
        self.mu_out = self.T_out.mean(axis=0)


def saga(T, mu, idx, mask, rows, n):
    """The SAGA estimate from the batch's new rows; then stores them and
    updates the running mean (a repeated index counts once)."""
    if idx is None:  # the full batch: every row is replaced
        diff = rows - T
        est = mu + diff.mean(axis=0)
        mu += diff.sum(axis=0) / n
        T[:] = rows
        return est
    diff = rows - T[idx]
    est = mu + diff.mean(axis=0)
    mu += (diff if mask is None else diff[mask]).sum(axis=0) / n
    T[idx] = rows
    return est


def saba_step(st, tab, bi, bo, rho, gamma):
    d = st.d
    ii, mi, Xi, yi, oo, mo, Xo, yo = batch_data(st, bi, bo)
    e = np.exp(st.lam)
    c, cv = inner_terms(st, Xi, yi)
    R = np.empty((len(yi), 3 * d))
    np.multiply(c[:, None], Xi, out=R[:, :d])
    R[:, :d] += e * st.theta
    np.multiply(cv[:, None], Xi, out=R[:, d:2 * d])
    R[:, d:2 * d] += e * st.v
    R[:, 2 * d:] = e * st.theta * st.v
    Ro = np.zeros((len(yo), 2 * d))  # ∇_λF_j = 0
    np.multiply(outer_coef(st, Xo, yo)[:, None], Xo, out=Ro[:, :d])
    ein = saga(tab.T_in, tab.mu_in, ii, mi, R, st.n)
    eout = saga(tab.T_out, tab.mu_out, oo, mo, Ro, st.m)
    move(st, rho, gamma, ein[:d], ein[d:2 * d] + eout[:d], ein[2 * d:] + eout[d:])


def run(X, y, Xv, yv, algo, batch, rho, gamma, sched=(0.0, 0.0), seed=1, iters=0,
        seconds=0.0, sampler="numpy", lam0=None, box=(-12.0, 12.0)):
    """One run of `algo` ("soba" or "saba"); stops after `iters` iterations
    or when the loop's own time reaches `seconds` (checked after every
    iteration, as bl_outer_solve does). Returns a dict with the final λ,
    θ, v, the iterations and the loop's seconds (SABA's table fill is
    before the clock starts)."""
    if algo not in ("soba", "saba"):
        raise ValueError(f"unknown algo '{algo}' (soba, saba)")
    if iters <= 0 and not seconds > 0:
        raise ValueError("give iters > 0 or seconds > 0")
    st = State(X, y, Xv, yv, np.zeros(X.shape[1]) if lam0 is None else lam0, box)
    masks = algo == "saba"
    bi = Batches(st.n, batch, seed, sampler, masks)
    bo = Batches(st.m, batch, (seed + OUTER_SEED_SHIFT) & M64, sampler, masks)
    tab = SagaTables(st) if algo == "saba" else None
    a, b = sched
    t = 0
    clock = time.perf_counter
    t0 = clock()
    while True:
        t += 1
        r, g = steps(rho, gamma, a, b, t)
        if tab is None:
            soba_step(st, bi, bo, r, g)
        else:
            saba_step(st, tab, bi, bo, r, g)
        elapsed = clock() - t0
        if (iters > 0 and t >= iters) or (seconds > 0 and elapsed >= seconds):
            break
    return {"algo": algo, "seed": seed, "lambda": st.lam.tolist(), "theta": st.theta.tolist(),
            "v": st.v.tolist(), "iters": t, "seconds": elapsed, "sampler": sampler,
            "batch_inner": bi.b, "batch_outer": bo.b}


# ------------------------------------------------------------------- CLI

def parse_schedule(text):
    if text == "constant":
        return 0.0, 0.0
    if text.startswith("decay:"):
        try:
            a, b = (float(x) for x in text[len("decay:"):].split(","))
        except ValueError:
            a = b = -1.0
        if a >= 0 and b >= 0:
            return a, b
    raise argparse.ArgumentTypeError(f"--step-schedule: want constant or decay:A,B (A, B >= 0), got '{text}'")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True, help="training samples (LIBSVM)")
    ap.add_argument("--val", required=True, help="validation samples (LIBSVM)")
    ap.add_argument("--algo", required=True, choices=["soba", "saba"])
    ap.add_argument("--batch-size", type=int, default=64, help="inner and outer batch (default 64)")
    ap.add_argument("--inner-step", type=float, required=True, help="rho, the step of theta and v")
    ap.add_argument("--outer-step", type=float, required=True, help="gamma, the step of lambda")
    ap.add_argument("--step-schedule", type=parse_schedule, default=(0.0, 0.0),
                    help="constant | decay:A,B (rho_t = rho t^-A, gamma_t = gamma t^-B)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--iters", type=int, default=0, help="stop after K iterations")
    ap.add_argument("--seconds", type=float, default=0.0, help="stop after S seconds of the loop")
    ap.add_argument("--sampler", choices=["numpy", "xoshiro"], default="numpy")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args(argv)
    if a.batch_size < 1:
        ap.error("--batch-size must be >= 1")
    if a.iters <= 0 and not a.seconds > 0:
        ap.error("give --iters K or --seconds S")
    try:
        X, y, Xv, yv = load_pair(a.train, a.val)
    except (OSError, ValueError) as e:
        print(f"bilevel_numpy.py: cannot read the data: {e}", file=sys.stderr)
        return 2
    r = run(X, y, Xv, yv, a.algo, a.batch_size, a.inner_step, a.outer_step, a.step_schedule,
            a.seed, a.iters, a.seconds, a.sampler)
    if a.json:
        r = {k: r[k] for k in ("algo", "seed", "lambda", "iters", "seconds", "sampler",
                                "batch_inner", "batch_outer")}
        print(json.dumps(r))
    else:
        print(f"{a.algo} seed {a.seed}: {r['iters']} iterations in {r['seconds']:.3f} s "
              f"({r['iters'] / r['seconds']:.0f} it/s), lambda mean {np.mean(r['lambda']):.6g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
