"""hypertape deq: the DEQ experiment's contract on a reduced size, the
issue's default claim (IFT, 800 images, 2 epochs: >= 60% test accuracy),
and bad input. Usage: cli_deq.py HYPERTAPE"""
import csv
import json
import os
import sys
import tempfile

from clitest import check, finish, run

EXE = sys.argv[1]
FIELDS = {'backward': str, 'test_accuracy': (int, float), 'seconds': (int, float),
          'backward_seconds': (int, float), 'backward_products': int, 'forward_iters': (int, float)}
ALL = ['ift', 'shine', 'shine-refine', 'jacobian-free', 'unroll']

with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, 'small')
    rc, so, se = run([EXE, 'deq', '--n-train', '192', '--n-test', '400', '--epochs', '1',
                      '--unroll-k', '12', '--json', '--quiet', '--out', out])
    check(rc == 0, 'deq --json exits 0 (rc %d, stderr %r)' % (rc, se[-300:]))
    lines = [l for l in so.splitlines() if l.strip()]
    check(len(lines) == 1, '--json prints exactly one line')
    obj = json.loads(so) if rc == 0 else {'runs': []}
    check(list(obj.keys()) == ['runs'], 'one object with "runs"')
    runs = {r['backward']: r for r in obj['runs']}
    check(list(runs) == ALL, 'one run per backward pass, in order: %s' % list(runs))
    for r in obj['runs']:
        check(set(r) == set(FIELDS) and all(isinstance(r[k], t) for k, t in FIELDS.items()),
              '%s: fields and types' % r.get('backward'))
        check(0.25 < r['test_accuracy'] <= 1, '%s: accuracy %.3f beats chance (0.1) clearly'
              % (r['backward'], r['test_accuracy']))
    if len(runs) == 5:
        # products per backward pass: SHINE and Jacobian-free one VJP, unroll K, IFT more than one
        check(runs['shine']['backward_products'] == 1, 'shine: 1 product per pass')
        check(runs['jacobian-free']['backward_products'] == 1, 'jacobian-free: 1 product per pass')
        check(runs['unroll']['backward_products'] == 12 and runs['unroll']['forward_iters'] == 12,
              'unroll: K = 12 products and forward steps')
        check(runs['ift']['backward_products'] > 2, 'ift: several GMRES products (%d)'
              % runs['ift']['backward_products'])
        check(runs['shine-refine']['backward_products'] <= runs['ift']['backward_products'] + 1,
              'shine-refine starts closer: <= ift products + 1')
    with open(os.path.join(out, 'deq.csv')) as f:
        rows = list(csv.DictReader(f))
    check(len(rows) == 5 * 2 and [r['epoch'] for r in rows[:2]] == ['0', '1'],
          'deq.csv: epochs 0..1 for 5 runs (%d rows)' % len(rows))
    with open(os.path.join(out, 'deq_summary.csv')) as f:
        summ = {r['backward']: r for r in csv.DictReader(f)}
    # cosine to an independent tight IFT solve: exact methods agree, approximations are close
    for name, lo in [('ift', 0.99999), ('shine-refine', 0.99999), ('unroll', 0.999),
                     ('shine', 0.9), ('jacobian-free', 0.9)]:
        c = float(summ[name]['grad_cosine']) if name in summ else float('nan')
        check(c >= lo, '%s: cosine to tight IFT %.6f >= %g' % (name, c, lo))
    with open(os.path.join(out, 'deq.png'), 'rb') as f:
        check(f.read(8) == b'\x89PNG\r\n\x1a\n', 'deq.png is a PNG')

    rc, so, se = run([EXE, 'deq', '--backward', 'ift', '--json', '--quiet',
                      '--out', os.path.join(tmp, 'default')])
    acc = json.loads(so)['runs'][0]['test_accuracy'] if rc == 0 else 0
    check(acc >= 0.60, 'defaults (800 images, 2 epochs, IFT): test accuracy %.3f >= 0.60' % acc)

    for args, what in [(['--backward', 'ift,nope'], 'unknown backward'),
                       (['--rho', '1.5'], 'rho outside (0, 1)'),
                       (['--batch', '900'], 'batch larger than n-train')]:
        rc, so, se = run([EXE, 'deq', '--out', os.path.join(tmp, 'bad')] + args)
        check(rc == 2 and len(se.strip().splitlines()) == 1 and se.startswith('hypertape deq:'),
              '%s: exit 2 with one line (%d, %r)' % (what, rc, se.strip()))
    check(not os.path.exists(os.path.join(tmp, 'bad')), 'bad input leaves no folder')
finish()
