#!/usr/bin/env python3
"""The corrupted-label detector beats chance (suite 'examples').

usage: cli_detect.py HYPERTAPE

Hypercleaning on 500 Fashion-MNIST training samples, half of the labels
replaced by a uniformly random class (--corrupt 0.5 --corrupt-mode uniform,
so about 45% are wrong), is solved by SOBA (1,000 steps), F2SA and
F2SA-Adam (200 steps each) from lambda = 0 with their documented defaults.
The detector flags sample i when sigma(lambda_i) < 0.5. Flagging at random
has precision equal to the fraction of wrong labels (the JSON's "chance"),
so an algorithm that learns nothing scores about chance. Each must beat it
by 0.15 in precision and find more than half of the wrong labels (recall).
Measured at this commit: SOBA precision 0.86 / recall 0.87, F2SA 0.73 / 0.81,
F2SA-Adam 0.71 / 0.82, chance 0.45.

Then the short run of the first-order issue: 2,000 training samples (1,000
validation, the 10,000 test images), p_c = 0.5, F2SA and F2SA-Adam for
2,000 outer steps each (about 15 s on one core, well inside the issue's
60 s; an iteration budget keeps the test deterministic) must reach test
accuracy >= 0.70 at their own model, and a detector precision above p_c.
At the documented defaults (alpha = gamma = 0.1; Adam 0.001) F2SA ends at
0.676 after 60 s, so the steps are those a sweep over seeds 1-3 at this
size picked: F2SA alpha 0.5, gamma 0.1 (accuracy 0.724-0.726, precision
0.564-0.568), F2SA-Adam alpha 0.01, gamma 0.001 (0.758-0.760, 0.777-0.784).
README, "The hypercleaning study", gives the sweep.
"""
import json
import sys
import tempfile

from clitest import check, finish, run

RUNS = [('soba', 1000), ('f2sa', 200), ('f2sa-adam', 200)]


def main():
    exe = sys.argv[1]
    with tempfile.TemporaryDirectory() as out:
        for algo, iters in RUNS:
            rc, so, se = run([exe, 'tune', '--problem', 'cleaning', '--n-train', '500',
                              '--n-val', '300', '--corrupt', '0.5', '--corrupt-mode', 'uniform',
                              '--algo', algo, '--eval', 'iterate', '--budget-iters', str(iters),
                              '--eval-every', str(iters), '--quiet', '--json', '--out', out])
            if not check(rc == 0, '%s: exit 0 (got %d: %s)' % (algo, rc, se.strip()[:200])):
                continue
            r = json.loads(so)['runs'][0]
            d = r['detector']
            lam = r['lambda']
            flagged = sum(1 for v in lam if v < 0)
            check(d['flagged'] == flagged and 0.40 < d['chance'] < 0.50,
                  '%s: %d flagged = #(lambda < 0) = %d; chance %.3f is the wrong-label fraction'
                  % (algo, d['flagged'], flagged, d['chance']))
            check(d['precision'] > d['chance'] + 0.15 and d['recall'] > 0.5,
                  '%s: precision %.3f > chance %.3f + 0.15 and recall %.3f > 0.5'
                  % (algo, d['precision'], d['chance'], d['recall']))
        short_run(exe, out)
    finish()


SHORT = [('f2sa', '0.5', '0.1'), ('f2sa-adam', '0.01', '0.001')]


def short_run(exe, out):
    for algo, rho, gamma in SHORT:
        rc, so, se = run([exe, 'tune', '--problem', 'cleaning', '--n-train', '2000',
                          '--n-val', '1000', '--corrupt', '0.5', '--corrupt-mode', 'uniform',
                          '--algo', algo, '--inner-step', rho, '--outer-step', gamma,
                          '--eval', 'iterate', '--budget-iters', '2000', '--eval-every', '2000',
                          '--threads', '1', '--quiet', '--json', '--out', out])
        if not check(rc == 0, 'short %s: exit 0 (got %d: %s)' % (algo, rc, se.strip()[:200])):
            continue
        r = json.loads(so)['runs'][0]
        d = r['detector']
        check(r['test_accuracy'] >= 0.70 and d['precision'] > 0.5,
              'short %s: test accuracy %.4f >= 0.70 and precision %.3f > p_c = 0.5 (chance %.3f)'
              % (algo, r['test_accuracy'], d['precision'], d['chance']))


if __name__ == '__main__':
    main()
