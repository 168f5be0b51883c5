"""Benchmark (not a test): where a checkerboard VAE's samples off the squares come from.

One run per call, on a STEP budget with 1 thread, timed by the process's CPU seconds (so variants
compare fairly on a shared machine). Prints one JSON line: the outside fraction of 30,000 samples
(``outside``, %) and of 30,000 decoder means (``means_out``, %: the prior's mass that decodes
between the squares; the rest of ``outside`` is the decoder noise σ(z)), the energy-distance
ratio (3 draws, see ``toy2d.sample_quality``), the KL gap of the K = eval_samples estimate, the
gap between that estimate and the ELBO on 20,000 test points (``elbo_gap``: how much a better
posterior q(z|x) could still gain), the median decoder σ at prior draws (standardised units), and
the RMS reconstruction error of those test points per coordinate at 16 posterior draws each
(``rms_error``, what a calibrated σ matches) and at the posterior mean (``rms_error_at_mean``),
the active latent directions of 5,000 test points (fewer than 2: posterior collapse), the last
validation score of training (the negative bound, standardised units) and the decoder noise
scale chosen when training ended (``decoder_noise_scale``; ``--set calibrate_noise=false`` for
σ as trained). ``sigma_median`` includes that scale.

    python benchmarks/vae_blur.py --steps 8000 --seed 0 --set posterior=full
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

import pushforward as pf
from pushforward.data.toy2d import get_toy
from pushforward.hparams import parse_assignments

sys.path.insert(0, str(Path(__file__).parent))
from toy2d import sample_quality  # noqa: E402


def measure(model: str, steps: int, seed: int, settings: dict[str, str]) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        started = time.process_time()
        fitted = pf.fit("checkerboard", model=model, steps=steps, seed=seed, out=f"{folder}/run", figures=False, settings=settings)
        cpu = time.process_time() - started
        dataset = fitted.dataset()
        test = dataset.test[:20_000]
        gap = float(-fitted.log_prob_tensor(test).double().mean()) - get_toy("checkerboard").entropy
        quality = sample_quality(fitted, repeats=3)
        vae = fitted.model
        with torch.no_grad():
            generator = torch.Generator().manual_seed(5)
            x = fitted.preprocessing.forward(test)
            elbo = float(vae.bound(x, generator, beta=1.0).double().mean())
            estimate = float(vae.log_prob(x, generator=generator).double().mean())
            raw = vae.decoder(vae.prior.sample(30_000, generator, vae.device, torch.float32))
            sigma = float(vae.decoder_likelihood.split(raw)[1].exp().median())
            means = fitted.preprocessing.inverse(vae.decoder_likelihood.mean(raw))
            # Is σ calibrated? The RMS reconstruction error per coordinate at posterior draws
            # (what the ELBO's σ should match) and at the posterior mean (without q's width).
            posterior = vae.posterior(x)
            z, _ = vae.variational.rsample(posterior, torch.randn(16, x.shape[0], vae.latent_features, generator=generator))
            at_draws = vae.decoder_likelihood.mean(vae.decoder(z.reshape(-1, vae.latent_features))).view(16, *x.shape)
            rms_error = float((x - at_draws).square().mean().sqrt())
            at_mean = vae.decoder_likelihood.mean(vae.decoder(vae.variational.mean(posterior)))
            rms_error_at_mean = float((x - at_mean).square().mean().sqrt())
        means_out = float((~dataset.toy.support_contains(means)).double().mean())
        active = vae.diagnostics(x[:5000])["active_latent_dimensions"]
        # fit reports the bound in the data's units; this benchmark's records (BENCHMARKS.md) are
        # in standardised units, so it takes the shift back off.
        score_name, score_shift = fitted.validation_report()
        final_bound = fitted.training.history[-1][score_name] - score_shift
    return {
        "model": model, "steps": fitted.training.steps, "seed": seed, "settings": settings, "cpu_seconds": round(cpu, 1),
        "outside": round(100 * quality["outside_support"], 2), "means_out": round(100 * means_out, 2),
        "energy_ratio": round(quality["energy_ratio"], 2), "kl_gap": round(gap, 4),
        "elbo_gap": round(estimate - elbo, 4), "sigma_median": round(sigma, 4),
        "rms_error": round(rms_error, 4), "rms_error_at_mean": round(rms_error_at_mean, 4), **vae.sampling_facts(),
        "active_latent_dimensions": active, "final_validation_bound": round(final_bound, 4),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="vae")
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = parse_assignments(args.set)
    print(json.dumps(measure(args.model, args.steps, args.seed, settings)))


if __name__ == "__main__":
    main()
