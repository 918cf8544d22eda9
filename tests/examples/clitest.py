"""Shared helpers of the tests/examples/ CLI tests (standard library only)."""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, '..', 'data')
TRAIN = os.path.join(DATA, 'logreg.train.svm')
VAL = os.path.join(DATA, 'logreg.val.svm')

failures = []


def check(cond, what):
    if cond:
        print('ok   ' + what)
    else:
        print('FAIL ' + what)
        failures.append(what)
    return cond


def run(args, cwd=None, timeout=600):
    p = subprocess.run(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    return p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')


def reference():
    with open(os.path.join(DATA, 'logreg.json')) as f:
        return json.load(f)


def lam_arg(lam):
    return ','.join(repr(float(v)) for v in lam)


def rel_err(a, b):
    """||a - b|| / ||b|| (Euclidean)."""
    e = sum((x - y) ** 2 for x, y in zip(a, b)) ** 0.5
    n = sum(y * y for y in b) ** 0.5
    return e / max(n, 1e-300)


def finish():
    if failures:
        print('%d check(s) failed:' % len(failures))
        for w in failures:
            print('  ' + w)
        sys.exit(1)
    print('all checks passed')
    sys.exit(0)
