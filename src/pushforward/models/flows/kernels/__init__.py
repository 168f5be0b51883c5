"""Pure math of the element-wise bijections: tensors in, ``(value, log|derivative|)`` out, no state."""

from pushforward.models.flows.kernels.affine import affine, soft_clamp
from pushforward.models.flows.kernels.splines import rational_quadratic_spline

__all__ = ["affine", "rational_quadratic_spline", "soft_clamp"]
