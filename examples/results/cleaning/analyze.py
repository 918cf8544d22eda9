import json, csv, statistics as S, sys, os
os.chdir(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
def med(x): return S.median(x) if x else float('nan')
def load(f): return json.load(open(f))
def table(f, label):
    d = load(f); by = {}
    for r in d['runs']: by.setdefault(r['algo'], []).append(r)
    print(f'## {label} ({f})')
    print('| algorithm | steps (ρ/α, γ) | test acc median (min–max) | precision | recall | iterations | it/s | memory MB |')
    print('|---|---|---|---|---|---|---|---|')
    for a, rs in by.items():
        acc = [r['test_accuracy'] for r in rs]
        pr = [r['detector']['precision'] for r in rs]; rc = [r['detector']['recall'] for r in rs]
        it = [r['iters'] for r in rs]; ips = [r['iters']/r['seconds'] for r in rs]
        st = rs[0]['steps']
        print(f"| {a} | {st['inner']:g}, {st['outer']:g} | {med(acc):.3f} ({min(acc):.3f}–{max(acc):.3f}) | {med(pr):.3f} | {med(rc):.3f} | {med(it):.0f} | {med(ips):.0f} | {rs[0]['memory_bytes']/1e6:.1f} |")
    print('chance', d['runs'][0]['detector']['chance'])
def first_reach(csvf, thr):
    res = {}
    for row in csv.DictReader(open(csvf)):
        if not row['test_accuracy']: continue
        k = (row['algo'], int(row['seed']))
        if k in res: continue
        if float(row['test_accuracy']) >= thr: res[k] = (int(row['iter']), float(row['seconds']))
    return res
for t in ('5', '7'):
    table(f'clean_{t}.json', f'tuned, p_c 0.{t}')
    table(f'base_{t}.json', f'lambda held at 0, p_c 0.{t}')
    for a, f in (('f2sa', f'seed_{t}_f2sa.json'), ('f2sa-adam', f'seed_{t}_adam.json')):
        table(f, f'seed settings {a}, p_c 0.{t}')
    for thr in (0.75, 0.78, 0.80):
        for a, dd in (('f2sa', f'seed_{t}/f2sa'), ('f2sa-adam', f'seed_{t}/f2sa-adam')):
            r = first_reach(f'{dd}/tune.csv', thr)
            its = [v[0] for v in r.values()]; secs = [v[1] for v in r.values()]
            print(f'p_c 0.{t} seed-settings {a}: reach {thr}: {len(r)}/5 seeds, median it {med(its)}, median s {med(secs):.2f}')
    for thr in (0.75, 0.78, 0.80):
        r = first_reach(f'clean_{t}/tune.csv', thr); by = {}
        for (a, s), v in r.items(): by.setdefault(a, []).append(v)
        print(f'p_c 0.{t} tuned reach {thr}:', {a: (len(v), med([x[0] for x in v]), round(med([x[1] for x in v]),2)) for a, v in by.items()})
    d = load(f'clean_{t}.json')
    for g in d['tune_steps']:
        p = g['points'][g['selected']]
        print('selected', g['algo'], p['inner'], p['outer'])
