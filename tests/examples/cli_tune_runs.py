#!/usr/bin/env python3
"""`hypertape tune`: the seed list, the step grid, the target and memory
columns and the quantile-band outputs, on tests/data/logreg.*.svm.
- --seeds N runs seeds 1..N, a comma list stays a list, bad values exit 2;
- JSON keys seconds_to_target, epochs_to_target, memory_bytes, steps agree
  with tune_summary.csv and with the first row of tune.csv at the target;
  SABA's memory exceeds SOBA's by at least its SAGA tables (README);
- --tune-steps: each grid point is run again here as its own short command
  (--inner-step/--outer-step, a tenth of the budget, seed 1) and must give
  the h the grid reports; the selected point is the argmin and the full
  runs use it;
- tune_bands.csv against a recomputation from tune.csv (step interpolation,
  type-7 quantiles by Python's statistics module), tune_bands.png a PNG.
  cli_tune_runs.py HYPERTAPE"""
import csv
import json
import math
import os
import shutil
import statistics
import struct
import sys
import tempfile

from clitest import TRAIN, VAL, check, finish, run

cli = os.path.abspath(sys.argv[1])
TUNE = [cli, 'tune', '--problem', 'logreg', '--train', TRAIN, '--val', VAL]
with open(TRAIN) as f, open(VAL) as g:
    N_IN = sum(1 for l in f if l.strip())
    N_OUT = sum(1 for l in g if l.strip())
N = N_IN + N_OUT
P = 8  # features of tests/data/logreg.*.svm (no intercept)


def tune_json(extra, d):
    rc, out, err = run(TUNE + extra + ['--json', '--quiet', '--out', d])
    try:
        return rc, json.loads(out), err
    except ValueError:
        return rc, {}, err


def read_csv(path):
    with open(path) as f:
        rd = csv.reader(f)
        hd = next(rd)
        return hd, [dict(zip(hd, r)) for r in rd]


def num(text):
    return float(text) if text != '' else None


def is_png(path):
    with open(path, 'rb') as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != b'\x89PNG\r\n\x1a\n' or head[12:16] != b'IHDR':
        return False
    w, h = struct.unpack('>II', head[16:24])
    return w > 100 and h > 100


tmp = tempfile.mkdtemp(prefix='cli_tune_runs_')
try:
    # --seeds N = 1..N; a list stays a list.
    rc, j, err = tune_json(['--algo', 'soba', '--batch-size', '16', '--budget-iters', '5',
                            '--h-star', '0.2', '--seeds', '3'], os.path.join(tmp, 's3'))
    check(rc in (0, 3) and [r['seed'] for r in j.get('runs', [])] == [1, 2, 3],
          '--seeds 3: seeds 1, 2, 3 (rc %d, %s)' % (rc, err[-200:]))
    rc, j, err = tune_json(['--algo', 'soba', '--batch-size', '16', '--budget-iters', '5',
                            '--h-star', '0.2', '--seeds', '1'], os.path.join(tmp, 's1'))
    check([r['seed'] for r in j.get('runs', [])] == [1], '--seeds 1: seed 1 only')
    rc, j, err = tune_json(['--algo', 'soba', '--batch-size', '16', '--budget-iters', '5',
                            '--h-star', '0.2', '--seeds', '5,3'], os.path.join(tmp, 's53'))
    check([r['seed'] for r in j.get('runs', [])] == [5, 3], '--seeds 5,3: the list itself')
    for bad in ('0', '-3', 'x', '1.5', '65', '', '3,', '2x'):
        d = os.path.join(tmp, 'bad')
        rc, out, err = run(TUNE + ['--algo', 'soba', '--seeds', bad, '--out', d])
        lines = err.strip().splitlines()
        check(rc == 2 and len(lines) == 1 and '--seeds' in lines[0] and out == '' and
              not os.path.exists(d), '--seeds %r: exit 2, one line naming --seeds (rc %d, %r)'
              % (bad, rc, err[:120]))
    rc, out, err = run(TUNE + ['--algo', 'hoag', '--tune-steps', '--out', os.path.join(tmp, 'bad')])
    check(rc == 2 and '--tune-steps' in err and len(err.strip().splitlines()) == 1,
          '--tune-steps with no algorithm that has steps: exit 2 naming it')

    # Target and memory: JSON, summary and tune.csv agree.
    d = os.path.join(tmp, 'target')
    rc, j, err = tune_json(['--algo', 'soba,saba,hoag', '--batch-size', '16', '--budget-iters', '400',
                            '--inner-step', '1', '--outer-step', '1', '--seeds', '2'], d)
    runs = j.get('runs', [])
    check(rc in (0, 3) and len(runs) == 5, 'soba, saba x 2 seeds + hoag: 5 runs (rc %d)' % rc)
    hd, summ = read_csv(os.path.join(d, 'tune_summary.csv'))
    _, rows = read_csv(os.path.join(d, 'tune.csv'))
    hstar = j.get('h_star')
    target = hstar + 1e-3 * abs(hstar) if hstar is not None else None
    for r, s in zip(runs, summ):
        name = '%s#%d' % (r['algo'], r['seed'])
        check(s['algo'] + ('/' + s['estimator'] if s['estimator'] else '') == r['algo'] and
              int(s['seed']) == r['seed'], '%s: summary row in the JSON order' % name)
        mine = [w for w in rows if (w['algo'], w['seed']) == (s['algo'], s['seed']) and w['true_h'] != '']
        hit = [w for w in mine if float(w['true_h']) <= target]
        if hit:
            check(abs(r['seconds_to_target'] - float(hit[0]['seconds'])) <= 1e-11 * (1 + r['seconds_to_target']) and
                  abs(r['epochs_to_target'] - int(hit[0]['samples']) / N) <= 1e-12 * (1 + r['epochs_to_target']),
                  '%s: seconds/epochs to target = the first tune.csv row with h <= h* + 1e-3|h*|' % name)
        else:
            check(r['seconds_to_target'] is None and r['epochs_to_target'] is None,
                  '%s: never at target: null' % name)
        for key, col in (('seconds_to_target', 'seconds_to_target'), ('epochs_to_target', 'epochs_to_target'),
                         ('memory_bytes', 'memory_bytes')):
            a, b = r[key], num(s[col])
            check((a is None and b is None) or (a is not None and b is not None and
                                                abs(a - b) <= 1e-9 * (1 + abs(a))),
                  '%s: JSON %s %s = summary %s' % (name, key, a, s[col]))
        st = r['steps']
        check(set(st) == {'inner', 'outer', 'tuned'} and st['tuned'] is False and s['steps_tuned'] == '0',
              '%s: steps reported, not tuned' % name)
        if r['algo'] == 'hoag/ift-cg':
            check(st['inner'] is None and st['outer'] is None and s['inner_step'] == '' and
                  r['memory_bytes'] is None and s['memory_bytes'] == '',
                  'hoag: no steps, no memory report (null / empty)')
        else:
            check(st['inner'] == 1 and st['outer'] == 1 and float(s['inner_step']) == 1 and
                  float(s['outer_step']) == 1, '%s: the steps given (1, 1)' % name)
            check(isinstance(r['memory_bytes'], int) and r['memory_bytes'] > 0,
                  '%s: memory_bytes an integer > 0' % name)
    mem = {r['algo']: r['memory_bytes'] for r in runs}
    tables = 8 * (N_IN * (2 * P + 1) + N_OUT * (P + 1))  # n(2p + m) + m_out(p + m) doubles, m = 1
    if mem.get('soba') and mem.get('saba'):
        diff = mem['saba'] - mem['soba']
        check(tables <= diff <= tables + 8 * 4 * (P + 1),
              'saba - soba memory %d = the SAGA tables %d (+ their means)' % (diff, tables))
    check(any(r['seconds_to_target'] is not None for r in runs), 'some run reaches the target')

    # The band CSV against a recomputation from tune.csv; the PNG.
    bh, bands = read_csv(os.path.join(d, 'tune_bands.csv'))
    check(bh == ['metric', 'axis', 'algo', 'seeds', 'point', 'x', 'q20', 'median', 'q80'],
          'tune_bands.csv columns (%s)' % bh)
    check(is_png(os.path.join(d, 'tune_bands.png')), 'tune_bands.png is a PNG (IHDR, size > 100 px)')
    panels = sorted({(b['metric'], b['axis']) for b in bands})
    check(panels == sorted([('h_gap', 'seconds'), ('h_gap', 'epochs'), ('grad_norm2', 'seconds'),
                            ('grad_norm2', 'epochs')]), 'four panels: h - h*, |grad h|^2 x seconds, epochs')
    traces = {}
    for w in rows:
        if w['true_h'] == '':
            continue
        tr = traces.setdefault((w['algo'] + ('/' + w['estimator'] if w['estimator'] else ''), w['seed']), [])
        tr.append({'seconds': float(w['seconds']), 'epochs': int(w['samples']) / N,
                   'h_gap': float(w['true_h']) - hstar, 'grad_norm2': float(w['true_grad_norm']) ** 2})
    checked = bad = 0
    for b in bands:
        seeds = [k for k in traces if k[0] == b['algo']]
        xs = float(b['x'])
        near = any(abs(p[b['axis']] - xs) <= 1e-9 * (1 + abs(xs)) for k in seeds for p in traces[k])
        if near or b['median'] == '':
            continue  # x printed to 12 digits may fall on either side of a sample time
        vals = []
        for k in seeds:
            before = [p[b['metric']] for p in traces[k] if p[b['axis']] <= xs]
            vals.append(before[-1] if before else float('nan'))
        if len(vals) == 1:
            want = (vals[0], vals[0], vals[0])
        else:
            qs = statistics.quantiles(vals, n=10, method='inclusive')  # deciles, type 7
            want = (qs[1], statistics.median(vals), qs[7])
        got = (float(b['q20']), float(b['median']), float(b['q80']))
        checked += 1
        # tune.csv has 12 significant digits: h - h* is known to ~1e-12 |h| absolute
        tol = 1e-9 * max(abs(w) for w in want) + (1e-11 if b['metric'] == 'h_gap' else 0)
        if not all(abs(g - w) <= tol for g, w in zip(got, want)) or \
                int(b['seeds']) != len(seeds):
            bad += 1
            if bad <= 3:
                print('  band mismatch %s: got %s, recomputed %s' % (b, got, want))
    check(checked > 500 and bad == 0, 'tune_bands.csv = step interpolation + type-7 quantiles of tune.csv '
          '(%d points checked, %d off)' % (checked, bad))

    # --tune-steps: the grid, each point run again here, the argmin used.
    d = os.path.join(tmp, 'steps')
    base = ['--batch-size', '16', '--h-star', '0.2', '--inner-step', '0.5', '--outer-step', '2']
    rc, j, err = tune_json(['--algo', 'soba,hgd', '--budget-iters', '50', '--seeds', '2', '--tune-steps'] + base, d)
    grids = {g['algo']: g for g in j.get('tune_steps', [])}
    check(rc in (0, 3) and sorted(grids) == ['hgd/ift-cg', 'soba'], '--tune-steps: grids of soba and hgd (rc %d)' % rc)
    g = grids.get('soba', {'points': []})
    pts = g['points']
    want = [(0.5 * a, 2 * b) for a in (0.1, 1, 10) for b in (0.1, 1, 10)]
    check(len(pts) == 9 and all(abs(p['inner'] - w[0]) <= 1e-15 and abs(p['outer'] - w[1]) <= 1e-15
                                for p, w in zip(pts, want)) and g.get('seed') == 1,
          'soba grid: {0.05, 0.5, 5} x {0.2, 2, 20} on seed 1')
    for k, p in enumerate(pts):
        rc2, j2, _ = tune_json(['--algo', 'soba', '--budget-iters', '5', '--seed', '1', '--batch-size', '16',
                                '--h-star', '0.2', '--inner-step', repr(p['inner']), '--outer-step',
                                repr(p['outer'])], os.path.join(tmp, 'pt%d' % k))
        h = j2.get('runs', [{}])[0].get('h')
        # the same λ; the hook's tight solve (to 1e-10) is warm-started differently: 1e-9
        check(h is not None and p['h'] is not None and abs(h - p['h']) <= 1e-9 * abs(h),
              'soba grid point %d (%g, %g): h %r = a 5-iteration run of its own %r' % (k, p['inner'], p['outer'], p['h'], h))
    hs = [p['h'] if p['h'] is not None else float('inf') for p in pts]
    best = min(range(len(hs)), key=lambda k: hs[k]) if hs else None
    check(g.get('selected') == best, 'soba: selected = argmin of the grid h (%s vs %s)' % (g.get('selected'), best))
    sruns = [r for r in j.get('runs', []) if r['algo'] == 'soba']
    if best is not None:
        check(len(sruns) == 2 and all(r['steps'] == {'inner': pts[best]['inner'], 'outer': pts[best]['outer'],
                                                     'tuned': True} for r in sruns),
              'soba: both seeds run with the selected steps')
    gh = grids.get('hgd/ift-cg', {'points': []})
    hp = gh['points']
    check(len(hp) == 3 and [p['inner'] for p in hp] == [0.1, 1, 10] and all(p['outer'] is None for p in hp),
          'hgd grid: step {0.1, 1, 10} (its default 1)')
    hh = [p['h'] if p['h'] is not None else float('inf') for p in hp]
    if hh:
        hb = min(range(3), key=lambda k: hh[k])
        hr = [r for r in j.get('runs', []) if r['algo'] == 'hgd/ift-cg']
        check(gh.get('selected') == hb and hr and hr[0]['steps']['inner'] == hp[hb]['inner'],
              'hgd: the argmin step is selected and used')
    _, summ = read_csv(os.path.join(d, 'tune_summary.csv'))
    check(all(s['steps_tuned'] == '1' for s in summ) and
          all(abs(float(s['inner_step']) - r['steps']['inner']) <= 1e-12 for s, r in zip(summ, j.get('runs', []))),
          'tune_summary.csv: steps_tuned 1 and the selected inner step')
    rc, out, err = run(TUNE + ['--algo', 'soba', '--budget-iters', '20', '--tune-steps', '--batch-size', '16',
                               '--h-star', '0.2', '--out', os.path.join(tmp, 'prog')])
    check(err.count('tune-steps soba') == 10 and 'selected inner' in err, 'progress: 9 points and the choice on stderr')
    rc, out, err = run(TUNE + ['--algo', 'soba', '--budget-iters', '20', '--tune-steps', '--batch-size', '16',
                               '--h-star', '0.2', '--quiet', '--out', os.path.join(tmp, 'quiet')])
    check('tune-steps' not in err, '--quiet silences the grid progress')
finally:
    shutil.rmtree(tmp, ignore_errors=True)

finish()
