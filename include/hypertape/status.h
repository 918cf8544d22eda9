/*
 * hypertape/status.h — the status codes shared by the bilevel layer, the
 * models and the data readers. It depends on nothing else in hypertape (in
 * particular not on hypertape/ad.h), so a reader can return a bl_status without
 * pulling in the bilevel layer. The ad layer keeps its own ad_status; the
 * oracle maps ad codes to these with their meaning kept (see bilevel.h).
 */
#ifndef HYPERTAPE_BILEVEL_STATUS_H
#define HYPERTAPE_BILEVEL_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

/** Status codes of the bilevel layer, the models and the data readers. */
typedef enum bl_status {
    BL_OK = 0,
    BL_EINVAL,     /**< bad argument */
    BL_ESHAPE,     /**< sizes do not fit */
    BL_ENOMEM,     /**< out of memory or tape cap reached */
    BL_EAD,        /**< the ad layer failed; the message holds its text */
    BL_EIO,        /**< a file could not be opened or read */
    BL_EFORMAT,    /**< a file is malformed; the message names the line or byte offset */
    BL_ENONFINITE, /**< NaN or Inf in input data or in an iterate */
    BL_ENONCONVEX, /**< non-positive curvature found where the method needs convexity */
    BL_ENOTCONVERGED, /**< a result was produced, but a requested tolerance was not met
                           (the message names the solver, its iterations and the norm) */
    BL_STATUS_COUNT
} bl_status;

/** Static English description of a status (never NULL). */
const char *bl_strerror(bl_status s);

#ifdef __cplusplus
}
#endif
#endif /* HYPERTAPE_BILEVEL_STATUS_H */
