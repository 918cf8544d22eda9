/*
 * hypertape.h — the umbrella header: every public header of hypertape in one
 * include. Each of them can also be included on its own, as
 * <hypertape/ad.h> (the AD engine), <hypertape/bilevel.h> (hypergradients and
 * bounds), <hypertape/outer.h> (outer algorithms), <hypertape/fixedpoint.h>
 * (fixed-point inner problems) and <hypertape/models/...> (data readers and
 * the standard problems); README, "Using hypertape from another project".
 */
#ifndef HYPERTAPE_H
#define HYPERTAPE_H

#include <hypertape/ad.h>
#include <hypertape/status.h>
#include <hypertape/bilevel.h>
#include <hypertape/solvers.h>
#include <hypertape/sampler.h>
#include <hypertape/outer.h>
#include <hypertape/fixedpoint.h>
#include <hypertape/models/data.h>
#include <hypertape/models/dense.h>
#include <hypertape/models/logreg.h>
#include <hypertape/models/cleaning.h>
#include <hypertape/models/lstsq.h>
#include <hypertape/models/ridge.h>
#include <hypertape/models/denoise.h>
#include <hypertape/models/multiclass.h>

#endif /* HYPERTAPE_H */
