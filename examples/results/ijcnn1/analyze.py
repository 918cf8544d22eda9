#!/usr/bin/env python3
"""The tables of README's regularisation-selection experiment at full size.

usage: analyze.py DIR   (DIR holds tune.json and the tune.csv of the run:
the --json output and the --out folder of the README command)

Prints the selected steps, then per algorithm the median (and range) over
seeds of h - h* at the end of the budget, time and epochs to target, the
iteration rate and memory, and the ratios SABA/SOBA and SRBA/SOBA of the
median gap at the end of the time budget and at equal epochs (E = the
smallest final epoch count among the soba, saba and srba seeds)."""
import csv, json, os, statistics as S, sys

d = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
J = json.load(open(os.path.join(d, 'tune.json')))
hs = J['h_star']
med = lambda x: S.median(x) if x else float('nan')
print('h* =', repr(hs))
for g in J.get('tune_steps', []):
    p = g['points'][g['selected']] if g['selected'] is not None else None
    print('selected', g['algo'], p and (p['inner'], p['outer']))
by = {}
for r in J['runs']:
    by.setdefault(r['algo'].split('/')[0], []).append(r)
print('| algorithm | steps ρ, γ | h − h* at the end: median (min–max) | seconds to target | epochs to target | iterations | it/s | memory |')
print('|---|---|---|---|---|---|---|---|')
for a, rs in by.items():
    gap = [r['h'] - hs for r in rs]
    tt = [r['seconds_to_target'] for r in rs if r['seconds_to_target'] is not None]
    et = [r['epochs_to_target'] for r in rs if r['epochs_to_target'] is not None]
    st = rs[0]['steps']
    stp = '' if st['inner'] is None else ('%g' % st['inner'] + ('' if st['outer'] is None else ', %g' % st['outer']))
    mem = rs[0]['memory_bytes']
    print(f"| {a} | {stp} | {med(gap):.3e} ({min(gap):.3e}–{max(gap):.3e}) | {med(tt):.2f} ({len(tt)}/{len(rs)}) | {med(et):.2f} | {med([r['iters'] for r in rs]):.0f} | {med([r['iters']/r['seconds'] for r in rs]):.0f} | {'' if mem is None else '%.1f kB' % (mem/1e3)} |")
# traces: per (algo, seed) rows (epochs, seconds, true_h)
tr = {}
for row in csv.DictReader(open(os.path.join(d, 'tune', 'tune.csv') if os.path.exists(os.path.join(d, 'tune', 'tune.csv')) else os.path.join(d, 'tune.csv'))):
    if not row['true_h']:
        continue
    tr.setdefault((row['algo'], int(row['seed'])), []).append((float(row['epochs'] or 'nan'), float(row['seconds']), float(row['true_h'])))
def at(trace, col, x):  # last evaluated value at or before x
    v = None
    for t in trace:
        if t[col] <= x:
            v = t[2]
    return v
sto = ['soba', 'saba', 'srba']
E = min(max(t[0] for t in tr[k]) for k in tr if k[0] in sto)
T = min(max(t[1] for t in tr[k]) for k in tr if k[0] in sto)
res = {}
for a in sto:
    ge = [at(tr[k], 0, E) - hs for k in tr if k[0] == a]
    gt = [at(tr[k], 1, T) - hs for k in tr if k[0] == a]
    res[a] = (med(ge), med(gt))
    print(f'{a}: median gap at E = {E:.2f} epochs {med(ge):.3e}; at T = {T:.2f} s {med(gt):.3e}')
for a in ('saba', 'srba'):
    print(f'{a}/soba: at equal epochs {res[a][0]/res["soba"][0]:.3g}, at equal time {res[a][1]/res["soba"][1]:.3g}')
