#!/usr/bin/python3
"""tests/bench_peers/peer_py.py — the Python contenders of the peer benchmark.

    /usr/bin/python3 peer_py.py numpy    numpy/scipy, where it is the natural hand code
    /usr/bin/python3 peer_py.py torch    PyTorch (autograd), float64

Speaks the protocol of peer_proto.h on its original stdout (stdout itself is
redirected to stderr). PEER_THREADS sets torch's intra-op threads; the
coordinator also sets OPENBLAS_NUM_THREADS / OMP_NUM_THREADS.

Correctness notes (README, "Measured performance"):
  * PyTorch 1.13's built-in sparse backward (torch.sparse.mm, CSR and COO)
    returns wrong gradients at 100,000 x 50,000 (relative error 3e-2), so the
    sparse product is an autograd.Function whose backward multiplies by an
    explicitly stored transpose (and is itself differentiable: Hvp works).
  * torch.optim.LBFGS stalls near ||grad G|| = 3e-9: the ift "whole" row asks
    it for 1e-10 and accepts where it stops (the check tolerance says so).
"""
import os
import sys
import time

import numpy as np

ROLE = sys.argv[1] if len(sys.argv) > 1 else ""
if ROLE not in ("numpy", "torch"):
    sys.stderr.write("usage: peer_py.py numpy|torch\n")
    sys.exit(2)
THREADS = int(os.environ.get("PEER_THREADS", "1"))
if ROLE == "torch":
    import torch
    import torch.nn.functional as Fn
    torch.set_num_threads(THREADS)
    torch.set_default_dtype(torch.float64)
import scipy.sparse as sp  # noqa: E402


def load(prefix, name, dtype, shape=None):
    a = np.fromfile(f"{prefix}.{name}", dtype=dtype)
    return a.reshape(shape) if shape is not None else a


def softplus_np(m):
    return np.maximum(m, 0) + np.log1p(np.exp(-np.abs(m)))


def sigmoid_np(m):
    e = np.exp(-np.abs(m))
    return np.where(m >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def T(a):
    return torch.from_numpy(np.ascontiguousarray(a))


class NA(Exception):
    pass


# ---------------------------------------------------------------- logistic

def logreg_np(op, X, ny, th, lam, v):
    n = X.shape[0]
    el = np.exp(lam)
    if op.startswith("cross"):
        return lambda: el * th * v
    if op == "grad":
        def f():
            r = ny * sigmoid_np(ny * (X @ th)) / n
            return np.concatenate([X.T @ r + el * th, 0.5 * el * th * th])
        return f
    def curv():
        s = sigmoid_np(ny * (X @ th))
        return s * (1 - s) / n
    if op == "hvp_scratch":
        return lambda: X.T @ (curv() * (X @ v)) + el * v
    D = curv()
    return lambda: X.T @ (D * (X @ v)) + el * v


def logreg_torch_G(X, ny, th, lam):
    return Fn.softplus(ny * (X @ th)).mean() + 0.5 * (torch.exp(lam) * th * th).sum()


def logreg_torch(op, X, ny, th, lam, v):
    X, ny, v = T(X), T(ny), T(v)
    th, lam = T(th).requires_grad_(), T(lam).requires_grad_()
    ag = torch.autograd.grad
    if op == "grad":
        return lambda: torch.cat(ag(logreg_torch_G(X, ny, th, lam), [th, lam]))
    wrt = th if op.startswith("hvp") else lam
    if op.endswith("scratch"):
        def f():
            g = ag(logreg_torch_G(X, ny, th, lam), th, create_graph=True)[0]
            return ag(g, wrt, v)[0]
        return f
    g = ag(logreg_torch_G(X, ny, th, lam), th, create_graph=True)[0]
    return lambda: ag(g, wrt, v, retain_graph=True)[0]


def setup_logreg(op, prefix, a):
    n, p = int(a[0]), int(a[1])
    X = load(prefix, "X.f64", np.float64, (n, p))
    args = (op, X, load(prefix, "ny.f64", np.float64), load(prefix, "theta.f64", np.float64),
            load(prefix, "lambda.f64", np.float64), load(prefix, "v.f64", np.float64))
    return (logreg_np if ROLE == "numpy" else logreg_torch)(*args)


# ------------------------------------------------------------------ sparse

if ROLE == "torch":
    class SpMV(torch.autograd.Function):
        """y = A x with the backward A^T g taken from an explicit transpose."""

        @staticmethod
        def forward(ctx, x, A, At):
            ctx.A, ctx.At = A, At
            return (A @ x.unsqueeze(1)).squeeze(1)

        @staticmethod
        def backward(ctx, g):
            return SpMV.apply(g, ctx.At, ctx.A), None, None


def setup_sparse(op, prefix, a):
    n, p, nnz = int(a[0]), int(a[1]), int(a[2])
    S = sp.csr_matrix((load(prefix, "val.f64", np.float64), load(prefix, "colind.i32", np.int32),
                       load(prefix, "rowptr.i64", np.int64)), shape=(n, p))
    ny, th = load(prefix, "ny.f64", np.float64), load(prefix, "theta.f64", np.float64)
    lam, v = load(prefix, "lambda.f64", np.float64), load(prefix, "v.f64", np.float64)
    if ROLE == "numpy":
        return logreg_np(op, S, ny, th, lam, v)
    St = S.T.tocsr()

    def csr(M):
        return torch.sparse_csr_tensor(T(M.indptr.astype(np.int64)), T(M.indices.astype(np.int64)),
                                       T(M.data), size=M.shape)
    A, At = csr(S), csr(St)
    nyt, vt = T(ny), T(v)
    tht, lamt = T(th).requires_grad_(), T(lam).requires_grad_()
    ag = torch.autograd.grad

    def G():
        return Fn.softplus(nyt * SpMV.apply(tht, A, At)).mean() + 0.5 * (torch.exp(lamt) * tht * tht).sum()
    if op == "grad":
        return lambda: torch.cat(ag(G(), [tht, lamt]))
    if op == "hvp_scratch":
        return lambda: ag(ag(G(), tht, create_graph=True)[0], tht, vt)[0]
    g = ag(G(), tht, create_graph=True)[0]
    return lambda: ag(g, tht, vt, retain_graph=True)[0]


# ----------------------------------------------------------------- softmax

def setup_softmax(op, prefix, a):
    n, d, C = int(a[0]), int(a[1]), int(a[2])
    X = load(prefix, "X.f64", np.float64, (n, d))
    y = load(prefix, "label.i32", np.int32)
    W, V = load(prefix, "W.f64", np.float64, (d, C)), load(prefix, "V.f64", np.float64, (d, C))
    lam = float(load(prefix, "lambda.f64", np.float64)[0])
    r = np.exp(lam)
    if ROLE == "numpy":
        Y = np.zeros((n, C))
        Y[np.arange(n), y] = 1.0

        def probs():
            Z = X @ W
            Z -= Z.max(axis=1, keepdims=True)
            P = np.exp(Z)
            return P / P.sum(axis=1, keepdims=True)

        def hvp(P):
            U = X @ V
            R = P * (U - (P * U).sum(axis=1, keepdims=True)) / n
            return np.append((X.T @ R + r * V).ravel(), r * np.vdot(W, V))
        if op == "grad":
            return lambda: np.append((X.T @ (probs() - Y) / n + r * W).ravel(), 0.5 * r * np.vdot(W, W))
        if op == "hvp_scratch":
            return lambda: hvp(probs())
        P = probs()
        return lambda: hvp(P)
    Xt, yt, Vt = T(X), T(y.astype(np.int64)), T(V)
    Wt, lt = T(W).requires_grad_(), torch.tensor(lam, requires_grad=True)
    ag = torch.autograd.grad

    def G():
        return Fn.cross_entropy(Xt @ Wt, yt) + 0.5 * torch.exp(lt) * (Wt * Wt).sum()

    def flat(gs):
        return torch.cat([gs[0].reshape(-1), gs[1].reshape(1)])
    if op == "grad":
        return lambda: flat(ag(G(), [Wt, lt]))
    if op == "hvp_scratch":
        return lambda: flat(ag(ag(G(), Wt, create_graph=True)[0], [Wt, lt], Vt))
    g = ag(G(), Wt, create_graph=True)[0]
    return lambda: flat(ag(g, [Wt, lt], Vt, retain_graph=True))


# ---------------------------------------------------------------- bilevel

def bbl_load(prefix, n, nv, p):
    return (load(prefix, "X.f64", np.float64, (n, p)), load(prefix, "ny.f64", np.float64),
            load(prefix, "V.f64", np.float64, (nv, p)), load(prefix, "nz.f64", np.float64),
            load(prefix, "lambda.f64", np.float64))


def torch_bbl(X, ny, V, nz, lam):
    X, ny, V, nz = T(X), T(ny), T(V), T(nz)
    lamt = T(lam).requires_grad_()

    def G(th):
        return Fn.softplus(ny * (X @ th)).mean() + 0.5 * (torch.exp(lamt) * th * th).sum()

    def F(th):
        return Fn.softplus(nz * (V @ th)).mean()
    return lamt, G, F


def torch_cg(g, th, b, iters, tol):
    """CG on H q = b with H v = d<g, v>/dθ on the retained graph of g = ∇_θG."""
    q = torch.zeros_like(b)
    r, d = b.clone(), b.clone()
    rr = float(r @ r)
    for _ in range(iters):
        if rr <= tol * tol or rr == 0:
            break
        Hd = torch.autograd.grad(g, th, d, retain_graph=True)[0]
        al = rr / float(d @ Hd)
        q += al * d
        r -= al * Hd
        rn = float(r @ r)
        d = r + (rn / rr) * d
        rr = rn
    return q


def np_cg(H, b, iters, tol):
    q = np.zeros_like(b)
    r, d = b.copy(), b.copy()
    rr = r @ r
    for _ in range(iters):
        if rr <= tol * tol or rr == 0:
            break
        Hd = H(d)
        al = rr / (d @ Hd)
        q += al * d
        r -= al * Hd
        rn = r @ r
        d = r + (rn / rr) * d
        rr = rn
    return q


def setup_unroll(op, prefix, a):
    if ROLE == "numpy":
        raise NA()  # hand-written C is the natural hand code here
    n, nv, p, K, alpha = int(a[0]), int(a[1]), int(a[2]), int(a[3]), float(a[4])
    lamt, G, F = torch_bbl(*bbl_load(prefix, n, nv, p))

    def f():  # the same generic unroll serves the lean, generic and checkpointed rows
        th = torch.zeros(p, requires_grad=True)
        for _ in range(K):
            th = th - alpha * torch.autograd.grad(G(th), th, create_graph=True)[0]
        return torch.autograd.grad(F(th), lamt)[0]
    return f


def setup_ift(op, prefix, a):
    n, nv, p = int(a[0]), int(a[1]), int(a[2])
    X, ny, V, nz, lam = bbl_load(prefix, n, nv, p)
    el = np.exp(lam)
    if ROLE == "numpy":
        import scipy.optimize as so

        def fg(th):
            m = ny * (X @ th)
            val = softplus_np(m).mean() + 0.5 * (el * th * th).sum()
            return val, X.T @ (ny * sigmoid_np(m) / n) + el * th

        def backward(th, iters, tol_rel):
            s = sigmoid_np(ny * (X @ th))
            D = s * (1 - s) / n
            b = V.T @ (nz * sigmoid_np(nz * (V @ th)) / nv)
            tol = tol_rel * max(1.0, np.linalg.norm(b)) if tol_rel > 0 else 0.0
            q = np_cg(lambda x: X.T @ (D * (X @ x)) + el * x, b, iters, tol)
            return -el * th * q
        if op == "backward":
            th = load(prefix, "theta.f64", np.float64)
            return lambda: backward(th, 11, 0.0)

        def whole():
            res = so.minimize(fg, np.zeros(p), jac=True, method="L-BFGS-B",
                              options={"gtol": 1e-10, "ftol": 0.0, "maxiter": 10000, "maxcor": 10})
            return backward(res.x, max(1000, 2 * p), 1e-12)
        return whole
    lamt, G, F = torch_bbl(X, ny, V, nz, lam)
    ag = torch.autograd.grad

    def backward(th, iters, tol_rel):
        g = ag(G(th), th, create_graph=True)[0]
        b = ag(F(th), th)[0]
        tol = tol_rel * max(1.0, float(b.norm())) if tol_rel > 0 else 0.0
        q = torch_cg(g, th, b, iters, tol)
        return -ag(g, lamt, q)[0]
    if op == "backward":
        th0 = T(load(prefix, "theta.f64", np.float64))
        return lambda: backward(th0.clone().requires_grad_(), 11, 0.0)

    def whole():
        th = torch.zeros(p, requires_grad=True)
        opt = torch.optim.LBFGS([th], lr=1, max_iter=500, history_size=10, tolerance_grad=1e-10,
                                tolerance_change=1e-15, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            val = G(th)
            val.backward()
            return val
        opt.step(closure)
        return backward(th, max(1000, 2 * p), 1e-12)
    return whole


FAMILIES = {"logreg": setup_logreg, "sparse": setup_sparse, "softmax": setup_softmax,
            "unroll": setup_unroll, "ift": setup_ift}


def status_bytes(key):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def reset_hwm():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def as_numpy(r):
    if ROLE == "torch":
        r = r.detach().numpy()
    return np.asarray(r, dtype=np.float64).ravel()


def main():
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    works = {}
    for line in sys.stdin:
        tok = line.split()
        if not tok:
            continue
        cmd = tok[0]
        if cmd == "quit":
            break
        if cmd == "setup":
            wid, fam, op, prefix, args = tok[1], tok[2], tok[3], tok[4], tok[5:]
            if fam not in FAMILIES:
                out.write("na\n")
            else:
                try:
                    works[wid] = [FAMILIES[fam](op, prefix, args), None]
                    out.write("ok\n")
                except NA:
                    out.write("na\n")
                except Exception as e:  # reported to the coordinator, which stops
                    out.write(f"err {type(e).__name__}: {e}".replace("\n", " ") + "\n")
        elif cmd == "run":
            w = works.get(tok[1])
            if w is None:
                out.write(f"err no workload {tok[1]}\n")
            else:
                n, send = max(1, int(tok[2])), int(tok[3])
                rss0 = status_bytes("VmRSS:")
                reset_hwm()
                t0 = time.perf_counter()
                for _ in range(n):
                    r = w[0]()
                t = (time.perf_counter() - t0) / n
                peak = max(0, status_bytes("VmHWM:") - rss0)
                if send:
                    v = as_numpy(r)
                    out.write(f"ok {t:.9e} {peak} {v.size} " + " ".join(repr(float(x)) for x in v) + "\n")
                else:
                    out.write(f"ok {t:.9e} {peak} 0\n")
                del r
        elif cmd == "free":
            works.pop(tok[1], None)
            out.write("ok\n")
        else:
            out.write(f"err unknown command {cmd}\n")
        out.flush()


if __name__ == "__main__":
    main()
