"""GAN objectives as pure functions of critic scores (and, for the penalty, of the critic).

Scores are the critic's raw outputs: logits l with D = σ(l) for the Jensen–Shannon GANs, and
real values f(x) for the Wasserstein ones. Every function returns the quantity to *minimise*.

* I. Goodfellow, J. Pouget-Abadie, M. Mirza, B. Xu, D. Warde-Farley, S. Ozair, A. Courville,
  Y. Bengio, "Generative adversarial nets", NeurIPS 2014: the value
  J(θ, φ) = E log D(x) + E log(1 − D(g(z))), maximised by the discriminator and minimised by
  the generator (the *minimax*, or saturating, loss); their Section 3 also proposes the
  generator maximise E log D(g(z)) instead (*non-saturating*), which has strong gradients early
  in training when D rejects every sample.
* M. Arjovsky, S. Chintala, L. Bottou, "Wasserstein generative adversarial networks", ICML 2017:
  the critic maximises E f(x) − E f(g(z)) over (approximately) 1-Lipschitz f, which estimates
  the Wasserstein-1 distance; the generator minimises −E f(g(z)).
* L. Mescheder, A. Geiger, S. Nowozin, "Which training methods for GANs do actually converge?",
  ICML 2018: the R1 penalty (γ/2) E ‖∇D(x)‖² on real data, which makes the game locally
  convergent for the Jensen–Shannon losses without bounding the critic's slope elsewhere.
* I. Gulrajani, F. Ahmed, M. Arjovsky, V. Dumoulin, A. Courville, "Improved training of
  Wasserstein GANs", NeurIPS 2017: the Lipschitz constraint as the penalty
  λ E (‖∇f(x̂)‖ − 1)² on points x̂ uniformly between real and generated pairs.

log σ(l) = −softplus(−l) and log(1 − σ(l)) = −softplus(l) keep all of these finite for any logit.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """−J: −E log D(x) − E log(1 − D(g(z))) (binary cross-entropy, real = 1, fake = 0).

    For a fixed generator its minimiser over all functions is D*(x) = p(x) / (p(x) + q(x))
    (Goodfellow et al., 2014, Proposition 1), where it equals log 4 − 2 JS(p ‖ q).
    """
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss_minimax(fake_logits: Tensor) -> Tensor:
    """E log(1 − D(g(z))): the generator's side of J, exactly as in Goodfellow et al. (2014).

    It saturates: when D confidently rejects the samples (l ≪ 0) its gradient vanishes.
    """
    return -F.softplus(fake_logits).mean()


def generator_loss_nonsaturating(fake_logits: Tensor) -> Tensor:
    """−E log D(g(z)): the same fixed points as the minimax loss, strong gradients early."""
    return F.softplus(-fake_logits).mean()


def critic_loss_wasserstein(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """E f(g(z)) − E f(x): minus the critic's estimate of the Wasserstein-1 distance."""
    return fake_scores.mean() - real_scores.mean()


def generator_loss_wasserstein(fake_scores: Tensor) -> Tensor:
    """−E f(g(z)) (the real term does not depend on the generator)."""
    return -fake_scores.mean()


def gradient_penalty(
    critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """E (‖∇f(x̂)‖₂ − 1)² with x̂ = ε x + (1 − ε) x̃, ε ~ U[0, 1] per row (Gulrajani et al., 2017).

    ``real`` and ``fake`` are batches of critic inputs of one shape; the gradient norm is taken
    over all of a row's entries. The graph is kept (``create_graph``), so the penalty can be
    differentiated with respect to the critic's parameters. Multiply by λ outside.
    """
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(shape, generator=generator, device=real.device, dtype=real.dtype)
    mixed = (eps * real + (1 - eps) * fake).detach().requires_grad_(True)
    scores = critic(mixed)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    norms = grad.reshape(grad.shape[0], -1).norm(dim=1)
    return (norms - 1).square().mean()


def r1_penalty(critic: Callable[[Tensor], Tensor], real: Tensor) -> Tensor:
    """E ‖∇ₓ D(x)‖₂² over real points x (Mescheder et al., 2018); multiply by γ/2 outside.

    The graph is kept, so the penalty can be differentiated with respect to the critic.
    """
    points = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(points).sum(), points, create_graph=True)
    return grad.reshape(grad.shape[0], -1).square().sum(dim=1).mean()
