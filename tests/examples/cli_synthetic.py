#!/usr/bin/env python3
"""`--synthetic ijcnn1` (suite 'examples').

usage: cli_synthetic.py HYPERTAPE SYNTH_WRITE

The generator's sets, written as LIBSVM files by synth_write (%.17g), give
`hypergrad --train/--val` the same numbers that `--synthetic ijcnn1` builds
in memory: the hypergradients must agree (the dense and CSR products sum in
different orders, hence 1e-12, not bitwise). Also: the label names the data,
`tune --eval iterate` reports a test accuracy (the extra test rows), and bad
combinations exit 2 with one line.
"""
import json
import os
import sys
import tempfile

from clitest import check, finish, rel_err, run


def main():
    exe, writer = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as d:
        tr, va = os.path.join(d, 'tr.svm'), os.path.join(d, 'va.svm')
        rc, _, se = run([writer, '400', '300', tr, va])
        check(rc == 0, 'synth_write wrote the sets (%s)' % se.strip())
        for reg, method in (('scalar', 'exact'), ('per-feature', 'ift-cg')):
            base = ['hypergrad', '--reg', reg, '--method', method, '--json', '--quiet']
            rc1, so1, se1 = run([exe] + base + ['--synthetic', 'ijcnn1', '--n-train', '400',
                                                '--n-val', '300'])
            rc2, so2, se2 = run([exe] + base + ['--train', tr, '--val', va])
            if not check(rc1 == 0 and rc2 == 0, '%s %s: both exit 0 (%s %s)'
                         % (reg, method, se1.strip(), se2.strip())):
                continue
            a, b = json.loads(so1)['hypergradient'], json.loads(so2)['hypergradient']
            e = rel_err(a, b)
            check(len(a) == (1 if reg == 'scalar' else 22) and e < 1e-12,
                  '%s %s: --synthetic = the same data as files (rel. diff %.2e)' % (reg, method, e))
        rc, so, se = run([exe, 'tune', '--synthetic', 'ijcnn1', '--n-train', '400', '--n-val', '300',
                          '--algo', 'soba', '--eval', 'iterate', '--budget-iters', '20',
                          '--json', '--quiet', '--out', d])
        acc = json.loads(so)['runs'][0].get('test_accuracy') if rc == 0 else None
        check(rc == 0 and acc is not None and 0.5 < acc <= 1.0,
              'tune --synthetic: test accuracy on the extra rows, %s (%s)' % (acc, se.strip()[:200]))
    bad = [
        (['hypergrad', '--synthetic', 'ijcnn2'], '--synthetic'),
        (['hypergrad', '--synthetic', 'ijcnn1', '--train', 'x', '--val', 'y'], '--synthetic'),
        (['hypergrad', '--problem', 'lstsq', '--synthetic', 'ijcnn1'], '--synthetic'),
        (['hypergrad', '--synthetic', 'ijcnn1', '--n-train', '0'], '--n-train'),
    ]
    for args, flag in bad:
        rc, so, se = run([exe] + args)
        check(rc == 2 and se.count('\n') == 1 and flag in se and not so,
              '%s: exit 2, one line naming %s (%d: %s)' % (' '.join(args), flag, rc, se.strip()))
    finish()


if __name__ == '__main__':
    main()
