#!/usr/bin/python3
"""tests/bench_peers/peers.py — hypertape side by side with its peers.

    /usr/bin/python3 peers.py --peer-c PATH [--adolc PATH] --out DIR [--threads 1,2]
                              [--rounds 7] [--only SUBSTRING]

Runs the same math in every contender — hypertape (peer_c ht), hand-written C
over OpenBLAS (peer_c hand), numpy/scipy (peer_py.py numpy), PyTorch
(peer_py.py torch) and ADOL-C (peer_adolc) — each a long-lived process
speaking the protocol of peer_proto.h, so start-up is never timed.

Method, per thread count and workload: every contender sets the workload up
(data from raw files written here once, so all compute on the same numbers),
runs one untimed warm-up call that also returns its result, and the results
are compared (max relative difference, infinity norm, against the hand-written
C result or else hypertape's) before any time is taken; a row whose results
disagree beyond its tolerance is reported as a mismatch and gets no times.
Then R timed rounds; in round r the contenders take turns in an order rotated
by r. A round is N calls timed together (N per contender, from its warm-up, so
that a round lasts about 30 ms); the medians over rounds are reported, with
the ratios hypertape / each contender. Peak memory is the growth of each
process's resident high-water mark over a round (/proc/self/clear_refs),
the largest over rounds; the processes run with a fixed glibc mmap threshold so
that freed work memory is returned and every round sees its own peak.

Writes DIR/peers.csv and DIR/peers.md. Exits 0 when every row ran and agreed,
1 when a row disagreed or a contender failed. Asserts nothing about speed.
"""
import argparse
import math
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CONTENDERS = ["hypertape", "hand", "numpy", "torch", "adolc"]
LABEL = {"hypertape": "hypertape", "hand": "hand C/OpenBLAS", "numpy": "numpy/scipy",
         "torch": "PyTorch", "adolc": "ADOL-C"}


# ------------------------------------------------------------------- data

def write(prefix, name, a):
    np.ascontiguousarray(a).tofile(f"{prefix}.{name}")


def data_logreg(d, n, p):
    prefix = f"{d}/logreg_{n}x{p}"
    rng = np.random.default_rng(1000 + n + p)
    write(prefix, "X.f64", rng.standard_normal((n, p)))
    write(prefix, "ny.f64", np.where(rng.random(n) < 0.5, 1.0, -1.0))
    write(prefix, "theta.f64", rng.standard_normal(p) / math.sqrt(p))
    write(prefix, "lambda.f64", math.log(1e-2) + 0.5 * rng.standard_normal(p))
    write(prefix, "v.f64", rng.standard_normal(p))
    return prefix


def data_sparse(d, n, p, per_row):
    prefix = f"{d}/sparse_{n}x{p}"
    rng = np.random.default_rng(2000 + per_row)
    cols = np.empty((n, per_row), dtype=np.int32)
    for i in range(n):  # distinct columns per row, sorted
        cols[i] = np.sort(rng.choice(p, per_row, replace=False))
    write(prefix, "rowptr.i64", np.arange(n + 1, dtype=np.int64) * per_row)
    write(prefix, "colind.i32", cols.ravel())
    write(prefix, "val.f64", rng.standard_normal(n * per_row))
    write(prefix, "ny.f64", np.where(rng.random(n) < 0.5, 1.0, -1.0))
    write(prefix, "theta.f64", rng.standard_normal(p) / math.sqrt(per_row))
    write(prefix, "lambda.f64", math.log(1e-2) + 0.5 * rng.standard_normal(p))
    write(prefix, "v.f64", rng.standard_normal(p))
    return prefix, n * per_row


def data_softmax(d, n, dim, C):
    prefix = f"{d}/softmax_{n}x{dim}x{C}"
    rng = np.random.default_rng(3000)
    X = rng.standard_normal((n, dim))
    X[:, -1] = 1.0
    write(prefix, "X.f64", X)
    write(prefix, "label.i32", rng.integers(0, C, n).astype(np.int32))
    write(prefix, "W.f64", 0.5 * rng.standard_normal((dim, C)) / math.sqrt(dim))
    write(prefix, "V.f64", rng.standard_normal((dim, C)))
    write(prefix, "lambda.f64", np.array([math.log(1e-3)]))
    return prefix


def sig(m):
    e = np.exp(-np.abs(m))
    return np.where(m >= 0, 1 / (1 + e), e / (1 + e))


def data_bbl(d, n, nv, p):
    """bbl_problem.h's problem: labels from a noisy linear model, λ_k = −3 + 2k/(p−1).
    Returns (prefix, α = 2/(L + μ) with bbl_constants' L and μ: the GD step)."""
    prefix = f"{d}/bbl_{n}x{p}"
    rng = np.random.default_rng(4000 + n + p)
    w = rng.standard_normal(p)
    w *= 2 / np.linalg.norm(w)
    X, V = rng.standard_normal((n, p)), rng.standard_normal((nv, p))
    ny = np.where(X @ w + rng.standard_normal(n) > 0, -1.0, 1.0)
    nz = np.where(V @ w + rng.standard_normal(nv) > 0, -1.0, 1.0)
    lam = -3 + 2 * np.arange(p) / max(p - 1, 1)
    for name, a in (("X.f64", X), ("ny.f64", ny), ("V.f64", V), ("nz.f64", nz), ("lambda.f64", lam)):
        write(prefix, name, a)
    el = np.exp(lam)
    th = np.zeros(p)  # θ* by Newton's method, to ‖∇G‖ at rounding level
    for _ in range(50):
        m = ny * (X @ th)
        g = X.T @ (ny * sig(m) / n) + el * th
        if np.linalg.norm(g) < 1e-15:
            break
        s = sig(m)
        H = (X.T * (s * (1 - s) / n)) @ X + np.diag(el)
        th -= np.linalg.solve(H, g)
    write(prefix, "theta.f64", th)
    L = (X * X).sum() / (4 * n) + el.max()
    return prefix, 2 / (L + el.min())


def data_scalar(d, N):
    prefix = f"{d}/scalar_{N}"
    rng = np.random.default_rng(5000)
    write(prefix, "x0.f64", 0.5 + 0.1 * rng.standard_normal(N + 1))
    return prefix


def workloads(d, only):
    """[(id, workload label, family, op, prefix, args, tolerance, memory?)]"""
    W = []

    def add(wid, label, fam, op, prefix, args, tol=1e-8, mem=False):
        if not only or any(o in wid for o in only):
            W.append((wid, label, fam, op, prefix, [str(a) for a in args], tol, mem))

    def want(tag):
        return not only or any(o in tag for o in only)
    for n, p in ((49990, 22), (20000, 784)):
        if want(f"logreg_{n}x{p}"):
            pre = data_logreg(d, n, p)
            for op, what in (("grad", "gradient"), ("hvp_scratch", "Hvp, from scratch"),
                             ("hvp_reuse", "Hvp, recording reused"),
                             ("cross_scratch", "cross, from scratch"),
                             ("cross_reuse", "cross, recording reused")):
                add(f"logreg_{n}x{p}_{op}", f"logistic {n}×{p}: {what}", "logreg", op, pre, [n, p])
    if want("sparse"):
        pre, nnz = data_sparse(d, 100000, 50000, 50)
        for op, what in (("grad", "gradient"), ("hvp_scratch", "Hvp, from scratch"),
                         ("hvp_reuse", "Hvp, recording reused")):
            add(f"sparse_{op}", f"sparse logistic 100,000×50,000 at 0.1%: {what}", "sparse", op, pre,
                [100000, 50000, nnz])
    if want("softmax"):
        pre = data_softmax(d, 20000, 785, 10)
        for op, what in (("grad", "gradient"), ("hvp_scratch", "Hvp + cross, from scratch"),
                         ("hvp_reuse", "Hvp + cross, recording reused")):
            add(f"softmax_{op}", f"softmax 20,000×785×10: {what}", "softmax", op, pre, [20000, 785, 10])
    for n, nv, p, Ks in ((200, 200, 50, (100, 1000)), (49990, 20000, 22, (100,))):
        if want("unroll"):
            pre, alpha = data_bbl(d, n, nv, p)
            for K in Ks:
                for op, what in (("lean", "unroll"), ("generic", "unroll-generic"),
                                 ("ckpt", "unroll-checkpointed (10 snapshots)")):
                    add(f"unroll_{n}x{p}_K{K}_{op}", f"{what}, {n}×{p}, K = {K}", "unroll", op, pre,
                        [n, nv, p, K, repr(alpha)], mem=True)
    if want("ift"):
        pre, _ = data_bbl(d, 49990, 20000, 22)
        # whole: the inner solvers differ (L-BFGS in hypertape, L-BFGS-B in scipy,
        # torch.optim.LBFGS stalling near 3e-9), hence the looser tolerance
        add("ift_whole", "ift-cg 49,990×22: whole (inner L-BFGS to 1e-10, CG to 1e-12)", "ift", "whole",
            pre, [49990, 20000, 22], tol=1e-5)
        add("ift_backward", "ift-cg 49,990×22: backward only (record G, ∇F, 11 CG steps, cross)", "ift",
            "backward", pre, [49990, 20000, 22])
    if want("scalar"):
        pre = data_scalar(d, 100000)
        add("scalar_record_grad", "scalar Rosenbrock chain, 10⁵ terms: record + gradient", "scalar",
            "record_grad", pre, [100000])
        add("scalar_grad_tape", "scalar Rosenbrock chain, 10⁵ terms: gradient on an existing recording",
            "scalar", "grad_tape", pre, [100000])
    return W


# ------------------------------------------------------------- contenders

class Peer:
    def __init__(self, name, argv, threads, cwd=None):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
                   PEER_THREADS=str(threads), MALLOC_MMAP_THRESHOLD_="65536",
                   MALLOC_TRIM_THRESHOLD_="65536")
        self.name = name
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                     cwd=cwd, text=True, bufsize=1)

    def ask(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        if not reply:
            raise RuntimeError(f"{self.name} exited (command: {line[:80]})")
        return reply.split()

    def run(self, wid, n, send):
        r = self.ask(f"run {wid} {n} {int(send)}")
        if r[0] != "ok":
            raise RuntimeError(f"{self.name}: {' '.join(r)}")
        k = int(r[3])
        return float(r[1]), int(r[2]), np.array([float(x) for x in r[4:4 + k]])

    def close(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait(timeout=60)


def start(args, threads, adolc_dir):
    py = sys.executable
    specs = [("hypertape", [args.peer_c, "ht"], None), ("hand", [args.peer_c, "hand"], None),
             ("numpy", [py, os.path.join(HERE, "peer_py.py"), "numpy"], None),
             ("torch", [py, os.path.join(HERE, "peer_py.py"), "torch"], None)]
    if args.adolc:
        specs.append(("adolc", [args.adolc], adolc_dir))
    return [Peer(name, argv, threads, cwd) for name, argv, cwd in specs]


def maxrel(a, b):
    if a.shape != b.shape:
        return math.inf
    scale = np.max(np.abs(b)) if b.size else 0.0
    return float(np.max(np.abs(a - b)) / (scale if scale > 0 else 1e-300)) if a.size else 0.0


def measure(peers, w, rounds, log):
    wid, label, fam, op, prefix, wargs, tol, mem = w
    active, res, warm = [], {}, {}
    for p in peers:
        r = p.ask(f"setup {wid} {fam} {op} {prefix} {' '.join(wargs)}")
        if r[0] == "ok":
            active.append(p)
        elif r[0] != "na":
            raise RuntimeError(f"{p.name} setup {wid}: {' '.join(r)}")
    for p in active:  # warm-up call, which also returns the result
        t, _, v = p.run(wid, 1, True)
        res[p.name], warm[p.name] = v, t
    ref = "hand" if "hand" in res else "hypertape"
    diffs = {name: maxrel(v, res[ref]) for name, v in res.items() if name != ref}
    worst = max(diffs.values(), default=0.0)
    row = {"id": wid, "label": label, "ref": ref, "diffs": diffs, "maxrel": worst, "tol": tol,
           "mem": mem, "times": {}, "mins": {}, "peaks": {}, "calls": {}}
    if not (worst <= tol):
        row["mismatch"] = True
        log(f"  MISMATCH {wid}: max relative difference {worst:.2e} > {tol:g} "
            f"({', '.join(f'{k} {v:.1e}' for k, v in diffs.items())}; reference {ref})")
    else:
        calls = {p.name: max(1, min(20000, math.ceil(0.03 / max(warm[p.name], 1e-9)))) for p in active}
        ts = {p.name: [] for p in active}
        pk = {p.name: 0 for p in active}
        for r in range(rounds):
            k = r % len(active)
            for p in active[k:] + active[:k]:
                t, peak, _ = p.run(wid, calls[p.name], False)
                ts[p.name].append(t)
                pk[p.name] = max(pk[p.name], peak)
        row["times"] = {k: statistics.median(v) for k, v in ts.items()}
        row["mins"] = {k: min(v) for k, v in ts.items()}
        row["peaks"], row["calls"] = pk, calls
    for p in active:
        p.ask(f"free {wid}")
    return row


# ----------------------------------------------------------------- output

def fmt_t(s):
    if s is None:
        return "—"
    if s >= 1:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3f} ms"
    return f"{s * 1e6:.1f} µs"


def fmt_ratio(x):
    return f"{x:.2f}" if x < 10 else f"{x:.0f}"


def fmt_mib(b):
    return f"{b / 2**20:.1f}"


# The targets of issue 21 (README, "Measured performance"): (workload label,
# contender, bound on hypertape / contender). Every other row with a PyTorch
# time has the bound 1.0 against PyTorch.
TARGETS = [
    ("scalar Rosenbrock chain, 10⁵ terms: record + gradient", "adolc", 1.0),
    ("scalar Rosenbrock chain, 10⁵ terms: gradient on an existing recording", "adolc", 1.0),
    ("unroll, 49990×22, K = 100", "torch", 0.8),
    ("unroll, 49990×22, K = 100", "hand", 1.3),
    ("sparse logistic 100,000×50,000 at 0.1%: gradient", "numpy", 1.15),
    ("sparse logistic 100,000×50,000 at 0.1%: Hvp, recording reused", "numpy", 1.15),
    ("logistic 20000×784: Hvp, from scratch", "hand", 1.3),
    ("logistic 49990×22: Hvp, from scratch", "hand", 1.3),
    ("ift-cg 49,990×22: backward only (record G, ∇F, 11 CG steps, cross)", "hand", 1.2),
    ("ift-cg 49,990×22: backward only (record G, ∇F, 11 CG steps, cross)", "torch", 0.6),
]
NAMES = {"hand": "hand C", "numpy": "numpy/scipy", "torch": "PyTorch", "adolc": "ADOL-C"}


def target_lines(rows_by_threads):
    """Markdown rows: each target with its ratio at every thread count, MET or NOT MET."""
    ths = [th for th, _ in rows_by_threads]
    labels = [r["label"] for r in rows_by_threads[0][1]] if rows_by_threads else []
    targeted = {lab for lab, _, _ in TARGETS}
    todo = list(TARGETS) + [(lab, "torch", 1.0) for lab in labels if lab not in targeted]
    lines = ["#### Targets", "",
             "| workload | against | target | " + " | ".join(f"{th} thread{'s' if th > 1 else ''}" for th in ths)
             + " |", "|---|---|---|" + "---|" * len(ths)]
    met = total = 0
    for lab, c, bound in todo:
        cells, seen = [], False
        for th, rows in rows_by_threads:
            r = next((r for r in rows if r["label"] == lab), None)
            t = r["times"] if r and not r.get("mismatch") else {}
            if t.get("hypertape") and t.get(c):
                q = t["hypertape"] / t[c]
                ok = q <= bound
                met, total, seen = met + ok, total + 1, True
                cells.append(f"{fmt_ratio(q)} {'MET' if ok else '**NOT MET**'}")
            else:
                cells.append("—")
        if seen:
            lines.append(f"| {lab} | {NAMES[c]} | ≤ {bound:g} | " + " | ".join(cells) + " |")
    lines += ["", f"Targets met: {met} of {total} (each thread count counted).", ""]
    return lines


def write_outputs(out, rows_by_threads, header):
    with open(os.path.join(out, "peers.csv"), "w") as f:
        f.write("threads,workload,contender,median_s,min_s,calls_per_round,peak_rss_growth_bytes,"
                "max_rel_diff_vs_ref,reference,ratio_hypertape_over\n")
        for th, rows in rows_by_threads:
            for r in rows:
                for c in CONTENDERS:
                    if c not in r["times"] and c not in r["diffs"] and c != r["ref"]:
                        continue
                    t = r["times"].get(c)
                    ht = r["times"].get("hypertape")
                    ratio = f"{ht / t:.4f}" if t and ht else ""
                    f.write(f'{th},"{r["label"]}",{c},{t if t is not None else ""},'
                            f'{r["mins"].get(c, "")},{r["calls"].get(c, "")},{r["peaks"].get(c, "")},'
                            f'{r["diffs"].get(c, 0.0) if c != r["ref"] else 0.0},{r["ref"]},{ratio}\n')
    lines = [header, ""]
    for th, rows in rows_by_threads:
        lines += [f"#### {th} thread{'s' if th > 1 else ''}", "",
                  "| workload | hypertape | hand C | numpy/scipy | PyTorch | ADOL-C | ht / hand | ht / numpy "
                  "| ht / PyTorch | ht / ADOL-C | max rel. diff |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            if r.get("mismatch"):
                lines.append(f"| {r['label']} | MISMATCH: results differ by {r['maxrel']:.1e} "
                             f"(tolerance {r['tol']:g}); no times | | | | | | | | | |")
                continue
            t = r["times"]
            ht = t.get("hypertape")
            cells = [fmt_t(t.get(c)) for c in CONTENDERS]
            ratios = [fmt_ratio(ht / t[c]) if ht and t.get(c) else "—" for c in CONTENDERS[1:]]
            lines.append(f"| {r['label']} | " + " | ".join(cells) + " | " + " | ".join(ratios) +
                         f" | {r['maxrel']:.0e} |")
        mem_rows = [r for r in rows if r["mem"] and not r.get("mismatch")]
        if mem_rows:
            lines += ["", f"Peak memory ({th} thread{'s' if th > 1 else ''}), MiB of resident-set growth "
                      "during a call (largest over rounds):", "",
                      "| workload | hypertape | hand C | PyTorch |", "|---|---|---|---|"]
            for r in mem_rows:
                lines.append(f"| {r['label']} | " + " | ".join(
                    fmt_mib(r["peaks"][c]) if c in r["peaks"] else "—"
                    for c in ("hypertape", "hand", "torch")) + " |")
        lines.append("")
    lines += target_lines(rows_by_threads)
    with open(os.path.join(out, "peers.md"), "w") as f:
        f.write("\n".join(lines))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--peer-c", required=True)
    ap.add_argument("--adolc", default="")
    ap.add_argument("--adolc-version", default="")
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--only", default="", help="comma-separated substrings of workload ids")
    args = ap.parse_args()
    args.peer_c, args.out = os.path.abspath(args.peer_c), os.path.abspath(args.out)
    args.adolc = os.path.abspath(args.adolc) if args.adolc else ""
    if args.rounds < 7:
        sys.exit("peers: at least 7 timed rounds")
    os.makedirs(os.path.join(args.out, "data"), exist_ok=True)
    adolc_dir = os.path.join(args.out, "adolc")
    os.makedirs(adolc_dir, exist_ok=True)
    with open(os.path.join(adolc_dir, ".adolcrc"), "w") as f:  # keep the traces in memory
        for k in ("OBUFSIZE", "LBUFSIZE", "VBUFSIZE", "TBUFSIZE"):
            f.write(f'"{k}" "16777216"\n')

    def log(s):
        print(s, flush=True)
    t0 = time.time()
    log("peers: writing the data sets")
    W = workloads(os.path.join(args.out, "data"), [o for o in args.only.split(",") if o])
    if not args.adolc:
        log("peers: no ADOL-C driver (libadolc-dev missing at configure time): its column stays empty")
    rows_by_threads, bad = [], False
    for th in [int(x) for x in args.threads.split(",")]:
        peers = start(args, th, adolc_dir)
        rows = []
        try:
            for w in W:
                log(f"peers: {th} thread(s): {w[0]}")
                r = measure(peers, w, args.rounds, log)
                bad |= bool(r.get("mismatch"))
                if r["times"]:
                    ht = r["times"].get("hypertape")
                    log("  " + "  ".join(f"{c} {fmt_t(t)}" + (f" (ht/{c} {ht / t:.2f})" if ht and c != "hypertape" else "")
                                         for c, t in r["times"].items()) + f"  max rel diff {r['maxrel']:.1e}")
                rows.append(r)
        finally:
            for p in peers:
                p.close()
        rows_by_threads.append((th, rows))
    import torch  # noqa: E402  (versions for the header only)
    import scipy  # noqa: E402
    header = (f"Measured by `./dev bench` (tests/bench_peers/peers.py) on {platform.machine()} "
              f"{os.cpu_count()} CPUs, float64; PyTorch {torch.__version__}, numpy {np.__version__}, "
              f"scipy {scipy.__version__}, ADOL-C {args.adolc_version if args.adolc else 'absent'}. "
              f"Medians of {args.rounds} timed rounds after a warm-up, contenders in rotating order; "
              f"results checked against each other first (max rel. diff: infinity norm, against hand C "
              f"or else hypertape). Ratios are hypertape / contender (below 1: hypertape is faster). "
              f"Total run {time.time() - t0:.0f} s.")
    table = write_outputs(args.out, rows_by_threads, header)
    print("\n" + table)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
