/*
 * bilevel/status.c — status texts of the bilevel layer.
 */
#include <hypertape/status.h>

static const char *const texts[BL_STATUS_COUNT] = {
    [BL_OK] = "success",
    [BL_EINVAL] = "invalid argument",
    [BL_ESHAPE] = "size mismatch",
    [BL_ENOMEM] = "out of memory",
    [BL_EAD] = "automatic differentiation failed",
    [BL_EIO] = "input/output error",
    [BL_EFORMAT] = "malformed input",
    [BL_ENONFINITE] = "non-finite value",
    [BL_ENONCONVEX] = "non-positive curvature (problem not strongly convex)",
    [BL_ENOTCONVERGED] = "not converged (a requested tolerance was not met)",
};

const char *bl_strerror(bl_status s)
{
    return ((unsigned)s < BL_STATUS_COUNT) ? texts[s] : "unknown status";
}
