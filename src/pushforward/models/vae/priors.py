"""Priors p(z) over the latent space: the fixed standard normal, or a learned Gaussian mixture.

A standard-normal prior leaves "holes": regions the prior covers but no encoded point uses,
which decode to points between the data's modes (the blur of VAE samples). A learned mixture
prior lets p(z) follow the aggregate posterior instead (Tomczak & Welling, "VAE with a
VampPrior", AISTATS 2018, who compare it with the mixture-of-Gaussians prior used here).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from pushforward.device import precise_dtype
from pushforward.models.vae.bounds import LOG_2PI, standard_normal_log_prob
from pushforward.nn.logsumexp import logsumexp


class StandardNormalPrior(nn.Module):
    def __init__(self, latent_features: int) -> None:
        super().__init__()
        self.latent_features = latent_features

    def log_prob(self, z: Tensor) -> Tensor:
        return standard_normal_log_prob(z)

    def sample(self, n: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype) -> Tensor:
        return torch.randn((n, self.latent_features), generator=generator, device=device, dtype=dtype)


class MixturePrior(nn.Module):
    """Σ_k π_k N(z; μ_k, diag σ_k²) with learned weights, means and scales.

    The means start spread as a standard-normal sample and the scales at 1/√K-ish widths, so
    the mixture starts close to N(0, I) in spread.
    """

    def __init__(self, latent_features: int, components: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.latent_features = latent_features
        self.logits = nn.Parameter(torch.zeros(components))
        self.means = nn.Parameter(torch.randn(components, latent_features, generator=generator))
        self.log_scales = nn.Parameter(torch.full((components, latent_features), -0.5 * math.log(components) / latent_features))

    def log_prob(self, z: Tensor) -> Tensor:
        """log p(z) for ``z`` of shape ``(..., latent_features)``.

        Each component's exponent is a quadratic in z, −½ Σ_d w_kd (z_d − μ_kd)² with
        w = 1/σ², so expanded it is one matrix product of the features [z², z] with the
        components' coefficients [−½ w, w μ] plus a per-component constant. That avoids the
        (n, K, d) differences and their backward: the VAE's training step ran 4.9 → 3.4 ms
        (batch 1,024, K = 128, 1 thread). The expansion cancels large terms (z² w against
        μ² w), so the product runs in float64 (10⁻³ nats off in float32 for narrow
        components; 10⁻⁶ in float64); a device without float64 (MPS) takes the direct form.
        The product, the log-sum-exp over components and their backward are one fused
        operation (:class:`_MixtureLogSumExp`), so the (n, K) matrix is never cast between
        precisions nor walked more than a few times.
        """
        flat = z.reshape(-1, self.latent_features)
        log_weights = torch.log_softmax(self.logits, dim=0)
        if precise_dtype(flat.device) is not torch.float64:
            per_component = self._component_log_densities_direct(flat)
            return logsumexp(per_component + log_weights, dim=1).reshape(z.shape[:-1])
        features, coefficients, constant = self._expansion(flat)
        offsets = constant + log_weights.to(torch.float64)
        log_density = _MixtureLogSumExp.apply(features, coefficients, offsets)
        return log_density.to(flat.dtype).reshape(z.shape[:-1])

    def _expansion(self, flat: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Float64 features [z², z] ``(n, 2d)``, coefficients ``(K, 2d)`` and constants ``(K,)``."""
        wide = torch.float64
        log_scales, means = self.log_scales.to(wide), self.means.to(wide)
        precision = torch.exp(-2.0 * log_scales)  # (K, d)
        coefficients = torch.cat([-0.5 * precision, precision * means], dim=1)  # (K, 2d)
        constant = (-0.5 * precision * means.square() - log_scales - 0.5 * LOG_2PI).sum(dim=1)
        wide_flat = flat.to(wide)  # square after widening: z² in float32 already loses the digits
        features = torch.cat([wide_flat.square(), wide_flat], dim=1)  # (n, 2d)
        return features, coefficients, constant

    def _component_log_densities_expanded(self, flat: Tensor) -> Tensor:
        features, coefficients, constant = self._expansion(flat)
        return torch.addmm(constant, features, coefficients.T).to(flat.dtype)

    def _component_log_densities_direct(self, flat: Tensor) -> Tensor:
        scaled = (flat[:, None, :] - self.means) * torch.exp(-self.log_scales)
        return (-0.5 * scaled.square() - self.log_scales - 0.5 * LOG_2PI).sum(dim=2)

    def sample(self, n: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype) -> Tensor:
        probabilities = torch.softmax(self.logits.detach(), dim=0)
        index = torch.multinomial(probabilities, n, replacement=True, generator=generator)
        noise = torch.randn((n, self.latent_features), generator=generator, device=device, dtype=dtype)
        return self.means[index] + torch.exp(self.log_scales[index]) * noise


# exp(x) for x below this is < 1e-304 of the largest term: counted as that instead of 0, which
# changes neither the sum nor the gradient, and never takes the CPU's slow path for subnormal
# results (see pushforward/nn/logsumexp.py).
_FLOAT64_FLOOR = -700.0


class _MixtureLogSumExp(torch.autograd.Function):
    """``log Σ_k exp((features @ coefficientsᵀ)_nk + offsets_k)`` in float64, with its backward.

    The backward of a log-sum-exp is the softmax (the components' responsibilities r_nk), and
    that of the product two more products, so the whole operation saves one (n, K) matrix of
    responsibilities: the gradients are g r @ coefficients, (g r)ᵀ @ features and Σ_n g r.
    Differentiable once (the VAE's objective needs no second derivative).
    """

    @staticmethod
    def forward(ctx, features: Tensor, coefficients: Tensor, offsets: Tensor) -> Tensor:  # type: ignore[override]
        logits = torch.addmm(offsets, features, coefficients.T)  # (n, K)
        shift = logits.amax(dim=1, keepdim=True)
        responsibilities = logits.sub_(shift).clamp_(min=_FLOAT64_FLOOR).exp_()
        total = responsibilities.sum(dim=1, keepdim=True)
        responsibilities.div_(total)
        ctx.save_for_backward(features, coefficients, responsibilities)
        return total.log_().add_(shift).squeeze(1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:  # type: ignore[override]
        features, coefficients, responsibilities = ctx.saved_tensors
        weighted = responsibilities * grad.unsqueeze(1)
        grad_features = weighted @ coefficients if ctx.needs_input_grad[0] else None
        grad_coefficients = weighted.T @ features if ctx.needs_input_grad[1] else None
        grad_offsets = weighted.sum(dim=0) if ctx.needs_input_grad[2] else None
        return grad_features, grad_coefficients, grad_offsets

