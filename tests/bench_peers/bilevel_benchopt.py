#!/usr/bin/python3
"""tests/bench_peers/bilevel_benchopt.py — hypertape's SOBA and SABA against
a numpy implementation of the same updates (bilevel_numpy.py) at the step
sizes benchopt's bilevel benchmark tuned for IJCNN1, for the same wall time
(issue 17, "Against the reference implementation"):

    SOBA  ρ = 0.03125, γ = 3.125, both decaying as t^{-1/2}, batch 64
    SABA  ρ = γ = 0.125, constant, batch 64

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tests/bench_peers/bilevel_benchopt.py \\
        --hypertape build/examples/hypertape --synth-write build/tests/examples/synth_write \\
        [--work DIR] [--seconds S] [--seeds N] [--h-star H] [--no-dense] [--out DIR]
    ... --check-only [--n-train 500 --n-val 900]   (the correctness check alone)

What it does:
 1. Writes the IJCNN1-shaped data (ds_synth_ijcnn1, the data of `--synthetic
    ijcnn1`; 49,990 training and 91,701 validation samples × 22 features
    unless --n-train/--n-val) as LIBSVM files with synth_write, and checks
    that `hypergrad` gives the same h and ∇h on the files as on
    `--synthetic ijcnn1`.
 2. Checks the numpy peer against hypertape before any timing: with full
    batches and constant steps, and then with hypertape's own minibatches
    (the peer replays its xoshiro256** stream) and the benchmark's steps,
    --check-iters iterations of numpy SOBA and SABA must end at the λ of
    `hypertape tune --budget-iters K` (on the files, and on the dense data
    unless --no-dense) to 1e-10 relative (‖Δλ‖∞ / ‖λ‖∞). Exits 1 with a
    message naming the case when they differ.
 3. For seeds 1..N and each algorithm runs, interleaved and in an order
    rotated from block to block: hypertape on the LIBSVM files (a CSR
    matrix), hypertape on `--synthetic ijcnn1` (a dense matrix), and the
    numpy peer (dense arrays; numpy's own sampler, with replacement like
    hypertape's), each for S seconds of the algorithm's own loop (start-up,
    data loading, SABA's table fill and hypertape's evaluation hook are not
    timed). hypertape gets --threads 1, numpy OPENBLAS_NUM_THREADS=1.
 4. Evaluates h at every run's final λ with one evaluator, `hypertape
    hypergrad --method ift-cg --inner-tol 1e-10` on the files, and reports
    per algorithm × contender the median (min, max) of h − h* over seeds,
    the iterations, iterations per second and the steps ρ_T, γ_T of the
    last iteration. h* is --h-star, else `tune`'s own HOAG solve to a
    tight tolerance (`tune --algo hoag`, its "h_star").

Writes OUT/benchopt.csv (one row per run) and OUT/benchopt.md (the table and
the verdicts), prints the table, and says for each algorithm whether
hypertape reached at least as low an h as numpy (median over seeds, and
seed by seed). Exit 0 when everything ran (whatever the verdict), 1 when a
check or a run failed, 2 for bad arguments, 77 (skip) without numpy.
--seconds defaults to $HYPERTAPE_BENCHOPT_SECONDS, else 60.
"""
import argparse
import csv
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

BATCH = 64
# benchopt's tuned IJCNN1 settings (config/ijcnn1_best_params.yml): SOBA
# step_size 0.03125, outer_ratio 0.01 (γ = ρ / ratio), exponents ½, ½; SABA
# step_size 0.125, outer_ratio 1, constant.
SETTINGS = {
    "soba": {"rho": 0.03125, "gamma": 3.125, "sched": (0.5, 0.5)},
    "saba": {"rho": 0.125, "gamma": 0.125, "sched": (0.0, 0.0)},
}
CONTENDERS = ["hypertape-libsvm", "hypertape-dense", "numpy"]
LABEL = {"hypertape-libsvm": "hypertape, LIBSVM files (the CLI holds them dense when half or more is stored)",
         "hypertape-dense": "hypertape, --synthetic ijcnn1 (dense)",
         "numpy": "numpy (bilevel_numpy.py)"}
CHECK_TOL = 1e-10


class Failure(Exception):
    pass


def sched_text(s):
    return "constant" if s == (0.0, 0.0) else f"decay:{s[0]:g},{s[1]:g}"


def final_steps(algo, iters):
    s = SETTINGS[algo]
    a, b = s["sched"]
    return (s["rho"] * iters ** (-a) if a > 0 else s["rho"],
            s["gamma"] * iters ** (-b) if b > 0 else s["gamma"])


def run_json(cmd, what, timeout, env=None):
    """Runs cmd, returns its stdout parsed as JSON; Failure with its stderr
    when it fails."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise Failure(f"{what}: no answer after {timeout:.0f} s: {' '.join(cmd)}")
    except OSError as e:
        raise Failure(f"{what}: cannot run {cmd[0]}: {e}")
    try:
        return json.loads(p.stdout)
    except ValueError:
        tail = (p.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise Failure(f"{what}: exit {p.returncode}, no JSON on stdout: {tail}\n  command: {' '.join(cmd)}")


class Bench:
    def __init__(self, a):
        self.a = a
        self.train = os.path.join(a.work, "train.svm")
        self.val = os.path.join(a.work, "val.svm")
        self.files = ["--train", self.train, "--val", self.val]
        self.dense = ["--synthetic", "ijcnn1", "--n-train", str(a.n_train), "--n-val", str(a.n_val)]
        self.np_env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")

    def say(self, msg):
        print(f"[benchopt] {msg}", flush=True)

    # ------------------------------------------------------------ data
    def write_data(self):
        os.makedirs(self.a.work, exist_ok=True)
        p = subprocess.run([self.a.synth_write, str(self.a.n_train), str(self.a.n_val), self.train, self.val],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise Failure(f"synth_write failed (exit {p.returncode}): {p.stderr.strip()}")
        self.say(f"data: {self.a.n_train} training / {self.a.n_val} validation samples x 22 features "
                 f"in {self.a.work}")

    def hypergrad(self, src, lam, what):
        cmd = [self.a.hypertape, "hypergrad", *src, "--reg", "per-feature",
               "--lambda", ",".join(repr(float(x)) for x in lam), "--method", "ift-cg",
               "--inner-tol", "1e-10", "--threads", "1", "--json", "--quiet"]
        r = run_json(cmd, what, 600)
        if r.get("status") != "ok" or not isinstance(r.get("outer_value"), (int, float)):
            raise Failure(f"{what}: hypergrad status {r.get('status')}")
        return r

    def check_same_data(self):
        lam = [(-1.0) ** k * 0.1 * (k % 7) - 1.0 for k in range(22)]
        f = self.hypergrad(self.files, lam, "hypergrad on the files")
        d = self.hypergrad(self.dense, lam, "hypergrad on --synthetic ijcnn1")
        dh = abs(f["outer_value"] - d["outer_value"]) / abs(f["outer_value"])
        dg = max(abs(x - y) for x, y in zip(f["hypergradient"], d["hypergradient"])) / \
            max(abs(x) for x in f["hypergradient"])
        if not (dh <= 1e-10 and dg <= 1e-7):
            raise Failure(f"the LIBSVM files and --synthetic ijcnn1 differ: h relative {dh:.2e}, "
                          f"hypergradient relative {dg:.2e}")
        self.say(f"same data: files and --synthetic ijcnn1 give h {f['outer_value']:.15g} "
                 f"(relative difference {dh:.1e}), hypergradient within {dg:.1e}")

    # ------------------------------------------------------------ runs
    def tune(self, src, algo, seed, batch, sched, budget, what):
        s = SETTINGS[algo]
        cmd = [self.a.hypertape, "tune", *src, "--reg", "per-feature", "--algo", algo,
               "--batch-size", str(batch), "--inner-step", repr(s["rho"]), "--outer-step", repr(s["gamma"]),
               "--step-schedule", sched_text(sched), "--seed", str(seed), *budget,
               "--threads", "1", "--eval-every", "1000000", "--h-star", "0", "--json", "--quiet",
               "--out", os.path.join(self.a.work, "tune_out")]
        timeout = 3 * (self.a.seconds if "--budget-seconds" in budget else 10) + 300
        r = run_json(cmd, what, timeout)
        run = r["runs"][0]
        if run.get("status") not in ("ok",):
            raise Failure(f"{what}: status {run.get('status')}")
        return {"lambda": run["lambda"], "iters": run["iters"], "seconds": run["seconds"],
                "tune_h": run["h"]}

    def numpy_run(self, algo, seed, seconds):
        s = SETTINGS[algo]
        cmd = [sys.executable, os.path.join(HERE, "bilevel_numpy.py"), "--train", self.train, "--val", self.val,
               "--algo", algo, "--batch-size", str(BATCH), "--inner-step", repr(s["rho"]),
               "--outer-step", repr(s["gamma"]), "--step-schedule", sched_text(s["sched"]),
               "--seed", str(seed), "--seconds", repr(seconds), "--json"]
        r = run_json(cmd, f"numpy {algo} seed {seed}", 3 * seconds + 300, env=self.np_env)
        return {"lambda": r["lambda"], "iters": r["iters"], "seconds": r["seconds"], "tune_h": None}

    # ------------------------------------------------------------ the check
    def check_peer(self):
        import numpy as np
        import bilevel_numpy as bn
        X, y, Xv, yv = bn.load_pair(self.train, self.val)
        K = self.a.check_iters
        srcs = [("files", self.files)] + ([] if self.a.no_dense else [("dense", self.dense)])
        worst = 0.0
        for algo in self.a.algos:
            s = SETTINGS[algo]
            full = max(self.a.n_train, self.a.n_val)  # at least both sample counts: both sides full
            cases = [("full batch, constant steps", full, (0.0, 0.0), "numpy"),
                     (f"batch {BATCH}, hypertape's minibatches, {sched_text(s['sched'])}", BATCH, s["sched"],
                      "xoshiro")]
            for label, batch, sched, sampler in cases:
                ref = np.array(bn.run(X, y, Xv, yv, algo, batch, s["rho"], s["gamma"], sched, seed=1,
                                      iters=K, sampler=sampler)["lambda"])
                for name, src in srcs:
                    what = f"check {algo}, {label}, hypertape on {name}"
                    h = self.tune(src, algo, 1, batch, sched, ["--budget-iters", str(K)], what)
                    lam = np.array(h["lambda"])
                    rel = float(np.max(np.abs(lam - ref)) / max(np.max(np.abs(lam)), 1e-300))
                    worst = max(worst, rel)
                    ok = h["iters"] == K and rel <= CHECK_TOL
                    self.say(f"{'ok  ' if ok else 'FAIL'} {what}: {K} iterations, "
                             f"max |lambda_numpy - lambda_hypertape| / max |lambda| = {rel:.2e}")
                    if not ok:
                        raise Failure(f"the numpy peer does not reproduce hypertape ({what}): relative "
                                      f"difference {rel:.3e} > {CHECK_TOL:g} after {h['iters']} iterations; "
                                      "the timing would compare different algorithms")
        self.say(f"the numpy peer reproduces hypertape's SOBA and SABA (worst {worst:.1e} <= {CHECK_TOL:g})")

    # ------------------------------------------------------------ h*
    def h_star(self):
        if self.a.h_star is not None:
            return self.a.h_star, "given (--h-star)"
        self.say("h*: tune's HOAG (ift-cg) to a tight tolerance")
        cmd = [self.a.hypertape, "tune", *self.files, "--reg", "per-feature", "--algo", "hoag",
               "--budget-iters", "1", "--threads", "1", "--json", "--quiet",
               "--out", os.path.join(self.a.work, "tune_hstar")]
        r = run_json(cmd, "h* (tune --algo hoag)", 900)
        if not isinstance(r.get("h_star"), (int, float)):
            raise Failure("h*: tune gave no h_star")
        return r["h_star"], "tune's HOAG/ift-cg at a tight tolerance"

    # ------------------------------------------------------------ the comparison
    def compare(self):
        a = self.a
        contenders = [c for c in CONTENDERS if not (a.no_dense and c == "hypertape-dense")]
        results = []
        block = 0
        for seed in range(1, a.seeds + 1):
            for algo in a.algos:
                k = block % len(contenders)
                order = contenders[k:] + contenders[:k]
                block += 1
                for c in order:
                    t0 = time.time()
                    what = f"{algo} seed {seed} {c}"
                    if c == "numpy":
                        r = self.numpy_run(algo, seed, a.seconds)
                    else:
                        src = self.files if c == "hypertape-libsvm" else self.dense
                        r = self.tune(src, algo, seed, BATCH, SETTINGS[algo]["sched"],
                                      ["--budget-seconds", repr(float(a.seconds))], what)
                    r.update(algo=algo, seed=seed, contender=c, wall=time.time() - t0)
                    results.append(r)
                    self.say(f"{what}: {r['iters']} iterations in {r['seconds']:.2f} s "
                             f"({r['iters'] / r['seconds']:.0f} it/s; process {r['wall']:.0f} s)")
        for r in results:
            e = self.hypergrad(self.files, r["lambda"], f"evaluate {r['algo']} seed {r['seed']} {r['contender']}")
            r["h"] = e["outer_value"]
            r["grad_norm"] = max(abs(x) for x in e["hypergradient"])
        return contenders, results


# ------------------------------------------------------------ report

def fmt(x, spec=".3e"):
    return "" if x is None else format(x, spec)


def report(a, contenders, results, h_star, h_star_src, load0, load1, out):
    import numpy as np
    os.makedirs(out, exist_ok=True)
    for r in results:
        r["gap"] = r["h"] - h_star
        r["rho_T"], r["gamma_T"] = final_steps(r["algo"], r["iters"])
    with open(os.path.join(out, "benchopt.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["algo", "contender", "seed", "iters", "seconds", "it_per_s", "h", "h_minus_h_star",
                    "h_star", "max_abs_grad_h", "rho_T", "gamma_T", "tune_h", "lambda_mean", "lambda_min",
                    "lambda_max", "process_seconds"])
        for r in results:
            lam = r["lambda"]
            w.writerow([r["algo"], r["contender"], r["seed"], r["iters"], f"{r['seconds']:.4f}",
                        f"{r['iters'] / r['seconds']:.1f}", repr(r["h"]), f"{r['gap']:.6e}", repr(h_star),
                        f"{r['grad_norm']:.6e}", f"{r['rho_T']:.6e}", f"{r['gamma_T']:.6e}",
                        "" if r["tune_h"] is None else repr(r["tune_h"]), f"{sum(lam) / len(lam):.6g}",
                        f"{min(lam):.6g}", f"{max(lam):.6g}", f"{r['wall']:.1f}"])
    L = []
    L.append(f"SOBA and SABA at benchopt's tuned IJCNN1 settings, {a.seconds:g} s of each algorithm's own "
             f"loop per run, seeds 1..{a.seeds}, IJCNN1-shaped data ({a.n_train} training / {a.n_val} "
             f"validation x 22, per-feature lambda, no intercept). h is evaluated at each run's final "
             f"lambda by `hypertape hypergrad --method ift-cg --inner-tol 1e-10`; h* = {h_star!r} "
             f"({h_star_src}).")
    L.append("")
    L.append("| algorithm | contender | h − h*: median | min | max | iterations (median) | it/s (median) "
             "| ρ_T, γ_T (median run) |")
    L.append("|---|---|---|---|---|---|---|---|")
    med = {}
    for algo in a.algos:
        for c in contenders:
            rs = [r for r in results if r["algo"] == algo and r["contender"] == c]
            if not rs:
                continue
            gaps = [r["gap"] for r in rs]
            its = statistics.median([r["iters"] for r in rs])
            ips = statistics.median([r["iters"] / r["seconds"] for r in rs])
            rho, gam = final_steps(algo, its)
            med[algo, c] = statistics.median([r["h"] for r in rs])
            L.append(f"| {algo.upper()} (ρ {SETTINGS[algo]['rho']:g}, γ {SETTINGS[algo]['gamma']:g}, "
                     f"{sched_text(SETTINGS[algo]['sched'])}) | {LABEL[c]} | {statistics.median(gaps):.3e} | "
                     f"{min(gaps):.3e} | {max(gaps):.3e} | {its:,.0f} | {ips:,.0f} | {rho:.3g}, {gam:.3g} |")
    L.append("")
    verdict_ok = True
    for algo in a.algos:
        if (algo, "numpy") not in med:
            continue
        for c in contenders:
            if c == "numpy" or (algo, c) not in med:
                continue
            hs = {r["seed"]: r["h"] for r in results if r["algo"] == algo and r["contender"] == c}
            ns = {r["seed"]: r["h"] for r in results if r["algo"] == algo and r["contender"] == "numpy"}
            wins = sum(1 for s in hs if s in ns and hs[s] <= ns[s])
            ok = med[algo, c] <= med[algo, "numpy"]
            verdict_ok &= ok
            L.append(f"- **{algo.upper()}, {LABEL[c]}: {'yes' if ok else 'NO'}**, "
                     f"{'reached at least as low an h as' if ok else 'ended at a higher h than'} numpy: median h − h* "
                     f"{med[algo, c] - h_star:.3e} against numpy's {med[algo, 'numpy'] - h_star:.3e}; "
                     f"as low or lower on {wins} of {len(hs)} seeds.")
    L.append("")
    L.append(f"Machine: {platform.node()}, {os.cpu_count()} cores, shared with other jobs "
             f"(load average {load0:.2f} at the start, {load1:.2f} at the end); numpy {np.__version__}, "
             f"Python {platform.python_version()}; hypertape --threads 1, numpy OPENBLAS_NUM_THREADS=1. "
             "The contenders ran interleaved, one at a time, in an order rotated from block to block. "
             "The numpy peer was first checked against hypertape (same λ to 1e-10 after "
             f"{a.check_iters} full-batch and {a.check_iters} replayed-minibatch iterations).")
    env = f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']} " if "OPENBLAS_NUM_THREADS" in os.environ else ""
    L.append("")
    L.append(f"Command: `{env}{shlex.join([sys.executable] + sys.argv)}`")
    text = "\n".join(L) + "\n"
    with open(os.path.join(out, "benchopt.md"), "w") as f:
        f.write(text)
    print(text)
    return verdict_ok


def default_seconds():
    v = os.environ.get("HYPERTAPE_BENCHOPT_SECONDS")
    try:
        return float(v) if v else 60.0
    except ValueError:
        print(f"bilevel_benchopt.py: HYPERTAPE_BENCHOPT_SECONDS is not a number: '{v}'", file=sys.stderr)
        sys.exit(2)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hypertape", default=os.path.join(ROOT, "build", "examples", "hypertape"),
                    help="the hypertape CLI (default build/examples/hypertape)")
    ap.add_argument("--synth-write", default=os.path.join(ROOT, "build", "tests", "examples", "synth_write"),
                    help="the synth_write test helper (default build/tests/examples/synth_write)")
    ap.add_argument("--work", default=None, help="folder for the data files (default: a temporary one)")
    ap.add_argument("--seconds", type=float, default=None,
                    help="each run's wall time (default $HYPERTAPE_BENCHOPT_SECONDS, else 60)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds 1..N (default 3)")
    ap.add_argument("--h-star", type=float, default=None, help="the optimal h (default: tune's HOAG solve)")
    ap.add_argument("--no-dense", action="store_true", help="leave out hypertape on --synthetic ijcnn1")
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "bench"), help="output folder (default out/bench)")
    ap.add_argument("--algos", default="soba,saba", help="comma list of soba, saba (default both)")
    ap.add_argument("--n-train", type=int, default=49990, help="training samples (default 49,990)")
    ap.add_argument("--n-val", type=int, default=91701, help="validation samples (default 91,701)")
    ap.add_argument("--check-iters", type=int, default=40, help="iterations of the correctness check (40)")
    ap.add_argument("--check-only", action="store_true", help="run the correctness check only (a test)")
    a = ap.parse_args(argv)
    a.algos = a.algos.split(",")
    if any(x not in SETTINGS for x in a.algos):
        ap.error(f"--algos: want a comma list of soba, saba, got '{','.join(a.algos)}'")
    if a.seconds is None:
        a.seconds = default_seconds()
    if not a.seconds > 0 or a.seeds < 1 or a.n_train < 2 or a.n_val < 2 or a.check_iters < 1:
        ap.error("--seconds, --seeds, --n-train, --n-val and --check-iters must be positive")
    for exe in (a.hypertape, a.synth_write):
        if not os.access(exe, os.X_OK):
            ap.error(f"not an executable: {exe} (build first: ninja -C build)")
    try:
        import numpy  # noqa: F401
    except ImportError:
        print("bilevel_benchopt.py: numpy is not importable (apt-get install python3-numpy); skipping",
              file=sys.stderr)
        return 77
    sys.path.insert(0, HERE)
    tmp = None
    if a.work is None:
        tmp = tempfile.TemporaryDirectory(prefix="benchopt_")
        a.work = tmp.name
    b = Bench(a)
    try:
        b.write_data()
        if not a.no_dense:
            b.check_same_data()
        b.check_peer()
        if a.check_only:
            return 0
        load0 = os.getloadavg()[0]
        h_star, src = b.h_star()
        b.say(f"h* = {h_star!r} ({src})")
        contenders, results = b.compare()
        load1 = os.getloadavg()[0]
        report(a, contenders, results, h_star, src, load0, load1, a.out)
        b.say(f"wrote {os.path.join(a.out, 'benchopt.csv')} and {os.path.join(a.out, 'benchopt.md')}")
        return 0
    except Failure as e:
        print(f"bilevel_benchopt.py: {e}", file=sys.stderr)
        return 1
    finally:
        if tmp:
            tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
