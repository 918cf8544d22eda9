#!/usr/bin/env python3
"""`hypertape tune`: a golden run on tests/data/logreg.*.svm (scalar λ) with
HOAG (ift-cg and shine), grid and random search (two seeds). Checks the
tune.csv columns and rows, the summary against the CSV, the PNG, the JSON
contract's keys and types, and, against `hypergrad --method exact` (a
separate path of the tool), the evaluation hook's h and ||grad h|| at the
final lambda and grid search against a brute-force scan of the same 21
points. On a tiny Fashion-MNIST hypercleaning instance with --eval iterate:
the detector of the JSON against a count from its own lambda and the exact
corruption fraction (hc_detect itself is checked by hand in models_cleaning).
Bad flags exit 2 with one line and leave no output folder.
  cli_tune.py HYPERTAPE"""
import csv
import glob
import json
import math
import os
import shutil
import sys
import tempfile

from clitest import TRAIN, VAL, check, finish, run

cli = os.path.abspath(sys.argv[1])
PAIR = ['--train', TRAIN, '--val', VAL]
TUNE = [cli, 'tune', '--problem', 'logreg'] + PAIR
COLUMNS = ['algo', 'estimator', 'seed', 'iter', 'value', 'grad_norm', 'pgrad_norm', 'grad', 'hvp',
           'cross', 'samples', 'epochs', 'work', 'seconds', 'accepted', 'step', 'inner_tol', 'linear_tol',
           'bound', 'bound_certified', 'status', 'best_value', 'lambda_mean', 'lambda_min',
           'lambda_max', 'lambda', 'true_h', 'true_grad_norm', 'test_accuracy']
SUMMARY = ['algo', 'estimator', 'seed', 'iters', 'final_h', 'best_h', 'grad_norm', 'h_star',
           'target', 'seconds_to_target', 'work_to_target', 'hvp_to_target', 'cross_to_target',
           'seconds', 'grad', 'hvp', 'cross', 'samples', 'epochs', 'work', 'test_accuracy',
           'detector_precision', 'detector_recall', 'status', 'epochs_to_target', 'memory_bytes',
           'inner_step', 'outer_step', 'steps_tuned']
STATUSES = {'ok', 'not-converged', 'nonconvex', 'nonfinite', 'failed'}


def exact(lam):
    """h and ||grad h|| at a scalar lambda by `hypergrad --method exact`."""
    rc, out, err = run([cli, 'hypergrad', '--problem', 'logreg'] + PAIR +
                       ['--reg', 'scalar', '--method', 'exact', '--lambda', repr(lam), '--json',
                        '--quiet'])
    d = json.loads(out)
    return d['outer_value'], abs(d['hypergradient'][0])


def is_num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


# --help
rc, out, err = run([cli, 'tune', '--help'])
check(rc == 0 and out.startswith('usage: hypertape tune'), 'tune --help: exit 0, usage on stdout')
for flag in ('--algo', '--estimator', '--budget-seconds', '--budget-work', '--budget-iters', '--tol',
             '--lambda0', '--box', '--seeds', '--h-star', '--json', '--quiet', '--out', '--train',
             '--batch-size', '--inner-step', '--outer-step', '--step-schedule', '--inner-steps', '--xi',
             '--nu0', '--nu-delta', '--beta1', '--beta2', '--corrupt-mode', '--tune-steps'):
    check(flag in out, 'tune --help lists ' + flag)
check('hoag' in out and 'random' in out and 'shine-opa' in out,
      'tune --help lists the algorithms and the estimators')
rc, out, err = run([cli, '--help'])
check('tune' in out, 'hypertape --help lists tune')

tmp = tempfile.mkdtemp(prefix='cli_tune_')
try:
    # The golden run: table and files.
    d1 = os.path.join(tmp, 'golden')
    args = TUNE + ['--algo', 'hoag,grid,random', '--estimator', 'ift-cg,shine', '--seeds', '1,2',
                   '--budget-iters', '30', '--lambda0', '-1', '--out', d1]
    rc, out, err = run(args)
    check(rc in (0, 3), 'golden run: exit 0 or 3 (got %d; %s)' % (rc, err[-300:]))
    check('[tune]' in err and ' it ' in err and 'true h' in err, 'progress lines on stderr')
    check('[tune]' not in out, 'no progress on stdout')
    for name in ('hoag/ift-cg', 'hoag/shine', 'grid', 'random#1', 'random#2', 'h* =', 't→target'):
        check(name in out, 'table shows "%s"' % name)
    check('wrote %s/tune.csv' % d1 in out, 'table ends with the "wrote" line')
    files = sorted(os.listdir(d1))
    check(files == ['tune.csv', 'tune.png', 'tune_bands.csv', 'tune_bands.png', 'tune_summary.csv'],
          'output folder holds exactly tune.csv, tune.png, tune_bands.csv, tune_bands.png, '
          'tune_summary.csv (%s)' % files)
    with open(os.path.join(d1, 'tune.png'), 'rb') as f:
        check(f.read(8) == b'\x89PNG\r\n\x1a\n', 'tune.png is a PNG')
    with open(os.path.join(d1, 'tune.csv')) as f:
        rd = csv.reader(f)
        header = next(rd)
        rows = [dict(zip(header, r)) for r in rd]
    check(header == COLUMNS, 'tune.csv columns (%s)' % header)
    runs = {}
    for r in rows:
        runs.setdefault((r['algo'], r['estimator'], r['seed']), []).append(r)
    check(sorted(runs) == sorted([('hoag', 'ift-cg', '1'), ('hoag', 'shine', '1'), ('grid', '', '1'),
                                  ('random', '', '1'), ('random', '', '2')]),
          'tune.csv has one run per algorithm/estimator/seed (%s)' % sorted(runs))
    for key, rs in runs.items():
        its = [int(r['iter']) for r in rs]
        want = 21 if key[0] == 'grid' else 30
        check(its == list(range(1, want + 1)), '%s: iterations 1..%d in order' % (key, want))
        check(all(math.isfinite(float(r['true_h'])) and float(r['true_grad_norm']) >= 0 for r in rs),
              '%s: the hook gave h and ||grad h|| at every iteration' % (key,))
        check(all(r['test_accuracy'] == '' for r in rs), '%s: no test set, no test accuracy' % (key,))
        check(all(r['status'] in STATUSES for r in rs), '%s: statuses are names' % (key,))
        works = [int(r['work']) for r in rs]
        check(works == sorted(works) and all(int(r['work']) == int(r['grad']) + int(r['hvp']) +
                                             int(r['cross']) for r in rs),
              '%s: work = grad + hvp + cross, non-decreasing' % (key,))
        secs = [float(r['seconds']) for r in rs]
        check(secs == sorted(secs), '%s: seconds non-decreasing' % (key,))
        if key[0] in ('grid', 'random'):
            check(all(r['grad_norm'] == '' for r in rs), '%s: a search has no gradient' % (key,))
            bests = [float(r['true_h']) for r in rs]
            check(all(b <= a + 1e-15 for a, b in zip(bests, bests[1:])),
                  '%s: the true h of the best point so far never grows' % (key,))
    hoag = runs[('hoag', 'ift-cg', '1')]
    check(float(hoag[0]['hvp']) > 0 and all(r['hvp'] == '0' for r in runs[('hoag', 'shine', '1')]),
          'ift-cg pays Hvps in its backward pass, shine none')
    # Grid search against a brute-force scan of its 21 points in [-12, 12].
    scan = [exact(-12 + 24 * k / 20)[0] for k in range(21)]
    grid_true = [float(r['true_h']) for r in runs[('grid', '', '1')]]
    check(abs(grid_true[-1] - min(scan)) <= 1e-9 * abs(min(scan)),
          'grid: best h %.12g = brute-force min %.12g' % (grid_true[-1], min(scan)))
    check(all(abs(g - min(scan[:k + 1])) <= 1e-9 for k, g in enumerate(grid_true)),
          'grid: each row is the running minimum of the scan')
    # The summary against the CSV.
    with open(os.path.join(d1, 'tune_summary.csv')) as f:
        rd = csv.reader(f)
        sh = next(rd)
        srows = [dict(zip(sh, r)) for r in rd]
    check(sh == SUMMARY, 'tune_summary.csv columns (%s)' % sh)
    check(len(srows) == 5, 'tune_summary.csv: one row per run')
    hstar = float(srows[0]['h_star'])
    target = hstar + 1e-3 * abs(hstar)
    check(abs(float(srows[0]['target']) - target) <= 1e-12, 'target = h* + 1e-3|h*| (the default)')
    for s in srows:
        rs = runs[(s['algo'], s['estimator'], s['seed'])]
        check(int(s['iters']) == len(rs) and float(s['final_h']) == float(rs[-1]['true_h']),
              '%s: iters and final h match the last CSV row' % s['algo'])
        check(float(s['best_h']) == min(float(r['true_h']) for r in rs),
              '%s: best h is the smallest true h of its rows' % s['algo'])
        check(min(float(r['true_h']) for r in rs) >= hstar - 1e-15, '%s: no h below h*' % s['algo'])
        hit = [r for r in rs if float(r['true_h']) <= target]
        if hit:
            check(s['seconds_to_target'] != '' and float(s['seconds_to_target']) == float(hit[0]['seconds'])
                  and int(s['work_to_target']) == int(hit[0]['work']),
                  '%s: time and work to target from the first row at target' % s['algo'])
        else:
            check(s['seconds_to_target'] == '', '%s: never at target, empty time' % s['algo'])
        c = rs[-1]
        check(all(int(s[k]) == int(c[k]) for k in ('grad', 'hvp', 'cross', 'samples')),
              '%s: summary counts = last row counts' % s['algo'])
    # h* against HOAG's final point and the exact hypergradient there.
    lam_h = float(hoag[-1]['lambda'])
    h_ex, g_ex = exact(lam_h)
    check(abs(float(hoag[-1]['true_h']) - h_ex) <= 1e-9 * h_ex and
          abs(float(hoag[-1]['true_grad_norm']) - g_ex) <= 1e-6 * max(g_ex, 1e-8),
          'the hook at hoag\'s last lambda = exact (h %.12g vs %.12g, |g| %.3e vs %.3e)' %
          (float(hoag[-1]['true_h']), h_ex, float(hoag[-1]['true_grad_norm']), g_ex))
    check(hstar <= min(scan) + 1e-12 and hstar <= h_ex, 'h* is no larger than any scanned h')
    lo = min(range(21), key=lambda k: scan[k])
    check(min(scan) - hstar <= 1e-3 * hstar, 'h* is near the scan minimum')

    # --json: exactly one object with the contract's keys and types.
    d2 = os.path.join(tmp, 'json')
    rc, out, err = run(TUNE + ['--algo', 'hoag,random', '--budget-iters', '8', '--json', '--quiet',
                               '--out', d2])
    check(rc == 3, '--json run with an 8-iteration budget: exit 3 (not converged), got %d' % rc)
    check(err.strip() != '' and all(l.startswith('hypertape tune: warning:') for l in err.splitlines()),
          '--quiet: only warning lines on stderr (%r)' % err[:200])
    try:
        j = json.loads(out)
        one = out.strip().count('\n') == 0
    except ValueError:
        j, one = {}, False
    check(one and set(j) == {'problem', 'h_star', 'runs'}, '--json: one object, keys problem, h_star, runs')
    check(j.get('problem') == 'logreg' and is_num(j.get('h_star')), '--json: problem str, h_star number')
    keys = {'algo', 'seed', 'lambda', 'h', 'best_h', 'grad_norm', 'iters', 'seconds', 'counts',
            'test_accuracy', 'status', 'seconds_to_target', 'epochs_to_target', 'memory_bytes', 'steps'}
    rs = j.get('runs', [])
    check(len(rs) == 2 and [r.get('algo') for r in rs] == ['hoag/ift-cg', 'random'],
          '--json: runs hoag/ift-cg and random')
    for r in rs:
        check(set(r) == keys, '--json run keys (%s)' % sorted(r))
        check(isinstance(r['algo'], str) and isinstance(r['seed'], int) and
              isinstance(r['lambda'], list) and len(r['lambda']) == 1 and is_num(r['lambda'][0]) and
              all(is_num(r[k]) for k in ('h', 'best_h', 'grad_norm', 'seconds')) and
              isinstance(r['iters'], int) and r['test_accuracy'] is None and
              r['status'] in STATUSES, '--json %s: types' % r.get('algo'))
        check(set(r['counts']) == {'grad', 'hvp', 'cross', 'samples'} and
              all(isinstance(v, int) for v in r['counts'].values()), '--json %s: counts' % r.get('algo'))
        check(r['best_h'] <= r['h'] and r['h'] >= j['h_star'] - 1e-15, '--json %s: h* <= best_h <= h' % r['algo'])
        h_ex, g_ex = exact(r['lambda'][0])
        check(abs(r['h'] - h_ex) <= 1e-9 * h_ex and abs(r['grad_norm'] - g_ex) <= 1e-6 * max(g_ex, 1e-8),
              '--json %s: h and grad_norm = exact at lambda' % r['algo'])
    check(rs and rs[0]['status'] == 'not-converged' and rs[1]['status'] == 'ok',
          '--json: hoag not converged in 8 iterations, random finished its budget')
    check(rs and rs[0]['iters'] == 8, '--json: hoag ran its 8 iterations')

    # Converged: exit 0; --h-star is used as given.
    d3 = os.path.join(tmp, 'conv')
    rc, out, err = run(TUNE + ['--algo', 'hoag', '--tol', '1e-5', '--h-star', '0.25', '--quiet',
                               '--json', '--out', d3])
    j = json.loads(out) if rc in (0, 3) else {}
    check(rc == 0 and j.get('h_star') == 0.25 and j['runs'][0]['status'] == 'ok',
          'hoag to --tol 1e-5: exit 0, status ok, h_star as given (rc %d)' % rc)

    # --box is honoured, budget in work.
    d4 = os.path.join(tmp, 'box')
    rc, out, err = run(TUNE + ['--algo', 'random', '--box', '-2,-1', '--budget-work', '200',
                               '--quiet', '--json', '--out', d4, '--h-star', '0.2'])
    j = json.loads(out) if out else {}
    r = j.get('runs', [{}])[0]
    check(rc == 0 and -2 <= r.get('lambda', [9])[0] <= -1, '--box -2,-1: random stays in the box')
    c = r.get('counts', {})
    check(c and c['grad'] + c['hvp'] + c['cross'] >= 200, '--budget-work 200: ran until the work reached 200')

    # Stochastic algorithms: SOBA and SABA at batch 16 with a fixed seed.
    with open(TRAIN) as f, open(VAL) as g:
        N = sum(1 for l in f if l.strip()) + sum(1 for l in g if l.strip())  # epochs = samples / N
    def stoch(extra, name):
        d = os.path.join(tmp, name)
        rc, out, err = run(TUNE + ['--algo', 'soba,saba', '--batch-size', '16', '--budget-iters', '40',
                                   '--h-star', '0.2', '--json', '--quiet', '--out', d] + extra)
        try:
            return rc, json.loads(out), d
        except ValueError:
            return rc, {}, d
    rc, j1, d6 = stoch(['--seed', '7'], 'soba1')
    check(rc in (0, 3), 'soba,saba --batch-size 16 --seed 7: exit 0 or 3 (got %d)' % rc)
    rs = j1.get('runs', [])
    check(set(j1) == {'problem', 'h_star', 'runs'} and [r.get('algo') for r in rs] == ['soba', 'saba'],
          'stochastic --json: runs soba and saba (no estimator)')
    for r in rs:
        check(set(r) == keys and r['seed'] == 7 and r['iters'] == 40 and r['status'] in STATUSES and
              isinstance(r['lambda'], list) and len(r['lambda']) == 1 and
              set(r['counts']) == {'grad', 'hvp', 'cross', 'samples'} and
              all(isinstance(v, int) for v in r['counts'].values()),
              '--json %s: the contract (keys, seed 7, 40 iterations, types)' % r.get('algo'))
        h_ex, g_ex = exact(r['lambda'][0])
        check(abs(r['h'] - h_ex) <= 1e-9 * h_ex and abs(r['grad_norm'] - g_ex) <= 1e-6 * max(g_ex, 1e-8),
              '--json %s: h and grad_norm = exact at its lambda' % r['algo'])
    # SOBA draws five batches per iteration (grad_theta G_i, H_i v, cross_i, grad_theta F_j, grad_lambda F_j).
    check(rs and rs[0]['counts']['samples'] == 5 * 16 * 40,
          'soba: samples = 5 x batch 16 x 40 iterations (%s)' % (rs[0]['counts'] if rs else None))
    with open(os.path.join(d6, 'tune.csv')) as f:
        rd = csv.reader(f)
        hd = next(rd)
        srow = [dict(zip(hd, r)) for r in rd]
    check(srow and all(abs(float(r['epochs']) - int(r['samples']) / N) <= 1e-9 * max(1, int(r['samples']) / N)
                       for r in srow), 'tune.csv: epochs = samples / (n_train + n_val = %d)' % N)
    rc2, j2, _ = stoch(['--seed', '7'], 'soba2')
    strip = lambda j: [{k: v for k, v in r.items() if k != 'seconds'} for r in j.get('runs', [])]
    check(rc2 == rc and strip(j1) == strip(j2) and j1.get('h_star') == j2.get('h_star'),
          'the same seed twice: the same JSON except "seconds"')
    rc3, j3, _ = stoch(['--seeds', '7,8'], 'soba3')
    r3 = j3.get('runs', [])
    check([(r['algo'], r['seed']) for r in r3] == [('soba', 7), ('soba', 8), ('saba', 7), ('saba', 8)],
          '--seeds 7,8: one stochastic run per seed')
    check(len(r3) == 4 and strip(j3)[0] == strip(j1)[0] and r3[1]['lambda'] != r3[0]['lambda'],
          '--seeds 7,8: seed 7 repeats the single-seed run, seed 8 differs')
    # The step flags reach the algorithm: the reported step is gamma_t = gamma t^-b (SOBA),
    # xi alpha_t = xi alpha t^-a (F2SA); the CSV has 12 significant digits.
    for algo, flags, want in (('soba', ['--outer-step', '0.5', '--step-schedule', 'decay:0.3,0.5'],
                               lambda t: 0.5 * t ** -0.5),
                              ('f2sa', ['--inner-step', '0.2', '--xi', '2', '--inner-steps', '2',
                                        '--nu0', '3', '--nu-delta', '0.1', '--step-schedule',
                                        'decay:0.5,0'], lambda t: 0.4 * t ** -0.5)):
        d7 = os.path.join(tmp, 'steps_' + algo)
        rc, out, err = run(TUNE + ['--algo', algo, '--batch-size', '16', '--budget-iters', '5',
                                   '--h-star', '0.2', '--quiet', '--out', d7] + flags)
        with open(os.path.join(d7, 'tune.csv')) as f:
            rd = csv.reader(f)
            hd = next(rd)
            steps = [(int(r[hd.index('iter')]), float(r[hd.index('step')])) for r in rd]
        check(rc in (0, 3) and len(steps) == 5 and
              all(abs(st - want(it)) <= 1e-10 * want(it) for it, st in steps),
              '%s %s: reported steps follow the schedule (%s)' % (algo, ' '.join(flags), steps))

    # Hypercleaning with --eval iterate: 40 training samples, exactly 20 labels changed
    # (--corrupt-mode other always changes them), test accuracy at the model, the detector.
    if os.path.isdir('/usr/share/datasets/fashion-mnist'):
        d8 = os.path.join(tmp, 'clean')
        rc, out, err = run([cli, 'tune', '--problem', 'cleaning', '--n-train', '40', '--n-val', '20',
                            '--corrupt', '0.5', '--corrupt-mode', 'other', '--algo', 'f2sa,soba',
                            '--batch-size', '8', '--budget-iters', '30', '--eval', 'iterate',
                            '--eval-every', '10', '--json', '--quiet', '--out', d8])
        try:
            j = json.loads(out)
        except ValueError:
            j = {}
        check(rc == 0 and j.get('h_star') is None, 'cleaning --eval iterate: exit 0, h_star null (rc %d, %s)'
              % (rc, err[-200:]))
        for r in j.get('runs', []):
            det = r.get('detector', {})
            lam = r['lambda']
            flagged = sum(1 for x in lam if x < 0)
            check(set(r) == keys | {'detector'} and len(lam) == 40 and r['h'] is None and
                  is_num(r['test_accuracy']) and 0 < r['test_accuracy'] <= 1,
                  'cleaning %s: the contract plus "detector", 40 lambdas, test accuracy, no true h'
                  % r['algo'])
            check(set(det) == {'precision', 'recall', 'flagged', 'wrong', 'chance'} and
                  det['flagged'] == flagged and det['wrong'] == 20 and det['chance'] == 0.5,
                  'cleaning %s: detector flags = #(lambda < 0) = %d, 20 wrong labels, chance 0.5 (%s)'
                  % (r['algo'], flagged, det))
            if flagged:
                hits = det['precision'] * flagged
                check(abs(hits - round(hits)) < 1e-9 and abs(det['recall'] * 20 - hits) < 1e-9,
                      'cleaning %s: precision x flagged = recall x wrong = an integer (%g)'
                      % (r['algo'], hits))
        with open(os.path.join(d8, 'tune_summary.csv')) as f:
            rd = csv.reader(f)
            hd = next(rd)
            srows = [dict(zip(hd, r)) for r in rd]
        check(hd == SUMMARY and len(srows) == 2 and
              all(abs(float(a['detector_precision'] or 'nan') - (b['detector']['precision'] or float('nan'))) < 1e-9
                  or not a['detector_precision'] for a, b in zip(srows, j.get('runs', []))),
              'cleaning: tune_summary.csv carries the detector of the JSON')
        with open(os.path.join(d8, 'tune.csv')) as f:
            rd = csv.reader(f)
            hd = next(rd)
            acc = [r[hd.index('test_accuracy')] for r in rd]
        check(sum(1 for a in acc if a) == 2 * 4, 'cleaning: test accuracy at iterations 1, 10, 20, 30 (%d values)'
              % sum(1 for a in acc if a))

    # Bad input: exit 2, one line, no output folder.
    bad = [
        (['--algo', 'simplex'], 'simplex'),
        (['--algo', 'hoag,'], '--algo'),
        (['--estimator', 'magic'], 'magic'),
        (['--budget-seconds', '-1'], '--budget-seconds'),
        (['--budget-work', '0'], '--budget-work'),
        (['--budget-iters', 'x'], '--budget-iters'),
        (['--tol', '0'], '--tol'),
        (['--box', '1,0'], '--box'),
        (['--box', '1'], '--box'),
        (['--seeds', '1,-2'], '--seeds'),
        (['--lambda0', '1,2'], '--lambda0'),
        (['--lambda0', 'nan'], '--lambda0'),
        (['--h-star', 'low'], '--h-star'),
        (['--eval-every', '0'], '--eval-every'),
        (['--eval', 'both'], '--eval'),
        (['--algo', 'hoag', '--eval', 'iterate'], 'iterate'),  # hoag keeps no model
        (['--frob'], '--frob'),
        (['--json=yes'], '--json'),
        (['--estimator', 'unroll', '--algo', 'hoag', '--train', '/nonexistent.svm'], '/nonexistent.svm'),
        (['--train', TRAIN], '--train'),  # a repeated flag
        (['--algo', 'soba', '--batch-size', '0'], '--batch-size'),
        (['--algo', 'soba', '--batch-size', '1.5'], '--batch-size'),
        (['--algo', 'soba', '--inner-step', '-1'], '--inner-step'),
        (['--algo', 'saba', '--outer-step', '0'], '--outer-step'),
        (['--algo', 'soba', '--step-schedule', 'decay:1'], '--step-schedule'),
        (['--algo', 'soba', '--step-schedule', 'linear'], '--step-schedule'),
        (['--algo', 'soba', '--step-schedule', 'decay:-1,0'], '--step-schedule'),
        (['--algo', 'f2sa', '--inner-steps', '0'], '--inner-steps'),
        (['--algo', 'f2sa', '--xi', '0'], '--xi'),
        (['--algo', 'f2sa', '--nu0', '-1'], '--nu0'),
        (['--algo', 'f2sa', '--nu-delta', '-0.5'], '--nu-delta'),
        (['--algo', 'f2sa-adam', '--beta1', '1'], '--beta1'),
        (['--algo', 'f2sa-adam', '--beta2', 'x'], '--beta2'),
        (['--algo', 'soba', '--seeds', '1,x'], '--seeds'),
        (['--batch-size', '16'], '--batch-size'),        # hoag: does not apply
        (['--algo', 'soba', '--xi', '1'], '--xi'),          # only f2sa
        (['--algo', 'soba', '--inner-steps', '3'], '--inner-steps'),
        (['--algo', 'soba', '--beta1', '0.5'], '--beta1'),
        (['--algo', 'bome', '--step-schedule', 'decay:0.5,0.5'], '--step-schedule'),  # constant steps
        (['--corrupt-mode', 'uniform'], '--corrupt-mode'),  # only cleaning
        (['--algo', 'soba', '--batch-size', '4', '--batch-size', '4'], '--batch-size'),
    ]
    for extra, word in bad:
        d5 = os.path.join(tmp, 'bad')
        base = TUNE if '/nonexistent.svm' not in extra else [cli, 'tune', '--problem', 'logreg',
                                                            '--val', VAL]
        rc, out, err = run(base + extra + ['--out', d5])
        lines = err.strip().splitlines()
        check(rc == 2 and len(lines) == 1 and word in lines[0] and lines[0].startswith('hypertape tune')
              and out == '' and not os.path.exists(d5),
              'bad %s: exit 2, one line naming %s, no output (rc %d, %r)' % (extra, word, rc, err[:160]))
    check(not glob.glob(os.path.join(tmp, '*', '*.tmp')), 'no .tmp file left anywhere')
finally:
    shutil.rmtree(tmp, ignore_errors=True)

finish()
