"""The registered flows (realnvp, maf, nsf): exact densities, invertibility, sampling, settings."""

from __future__ import annotations

import math

import pytest
import torch

from pushforward.errors import UserError
from pushforward.models import create, get_entry, model_names
from pushforward.models.flows import Flow, MAFHyperparameters, NSFHyperparameters, RealNVPHyperparameters
from pushforward.nn.embeddings import FourierFeatures

SMALL = dict(layers=3, hidden_features=16, hidden_layers=2)
CONFIGS = {
    "realnvp": ("realnvp", SMALL),
    "realnvp-glow": ("realnvp", dict(SMALL, actnorm=True, linear="lu")),
    "realnvp-permutation": ("realnvp", dict(SMALL, linear="permutation")),
    "maf": ("maf", SMALL),
    "maf-actnorm": ("maf", dict(SMALL, actnorm=True, activation="tanh")),
    "nsf": ("nsf", dict(SMALL, bins=4, bound=3.0)),
    "nsf-actnorm-permutation": ("nsf", dict(SMALL, bins=4, bound=3.0, actnorm=True, linear="permutation")),
    "nsf-none": ("nsf", dict(SMALL, bins=4, bound=3.0, linear="none", activation="gelu")),
    "nsf-no-fourier": ("nsf", dict(SMALL, bins=4, bound=3.0, fourier_features=0)),
    "realnvp-fourier": ("realnvp", dict(SMALL, fourier_features=4, fourier_scale=0.5)),
    "nsf-autoregressive": ("nsf", dict(SMALL, bins=4, bound=3.0, autoregressive=True)),
    "nsf-autoregressive-permutation": ("nsf", dict(SMALL, bins=4, autoregressive=True, linear="permutation")),
}
SHAPES = [(2,), (5,), (3, 4, 4)]


class Directions:
    """A flow seen as a transform, so the shared checks can run on whole models."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow

    def __call__(self, x):
        return self.flow.transform(x)

    def inverse(self, z):
        return self.flow.inverse(z)


def build(config, shape, flowcheck, scale=0.1, seed=0):
    """A float64 model with ActNorm initialised on data and every parameter perturbed."""
    name, settings = CONFIGS[config]
    torch.manual_seed(seed)
    model = create(name, event_shape=shape, **settings).double()
    generator = torch.Generator().manual_seed(seed)
    model.train()
    model.log_prob(torch.randn(64, *shape, generator=generator, dtype=torch.float64))
    flowcheck.randomize(model, scale=scale, seed=seed)
    return model.eval()


def data(shape, n, seed=1):
    return 1.5 * torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("config", CONFIGS)
def test_round_trip_and_log_det_against_autograd(config, shape, flowcheck):
    model = build(config, shape, flowcheck)
    x = data(shape, 16)
    z, _ = model.transform(x)
    assert not torch.allclose(z, x, atol=1e-2)
    flowcheck.assert_round_trip(Directions(model), x, atol=1e-8)
    flowcheck.assert_log_det_matches_autograd(Directions(model), x[:2])


@pytest.mark.parametrize("config", CONFIGS)
def test_two_layers_already_couple_every_output_to_every_input(config, flowcheck):
    # Consecutive layers must alternate which half (or which order) they transform; a stack
    # that transforms the same half twice leaves one coordinate untouched (a zero in the Jacobian).
    name, settings = CONFIGS[config]
    torch.manual_seed(0)
    model = flowcheck.randomize(create(name, event_shape=(2,), **dict(settings, layers=2)).double()).eval()
    x = data((2,), 1)[0]
    jacobian = torch.autograd.functional.jacobian(lambda v: model.transform(v[None])[0][0], x)
    assert torch.all(jacobian.abs() > 1e-6), jacobian


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("config", ["realnvp-glow", "nsf"])
def test_log_prob_is_the_change_of_variables_formula(config, shape, flowcheck):
    model = build(config, shape, flowcheck)
    x = data(shape, 8)
    z, log_det = model.transform(x)
    dimension = math.prod(shape)
    expected = -0.5 * z.flatten(1).pow(2).sum(1) - 0.5 * dimension * math.log(2 * math.pi) + log_det
    torch.testing.assert_close(model.log_prob(x), expected)
    assert model.log_prob(x).shape == (8,)


def grid(limit=9.0, points=721):
    axis = torch.linspace(-limit, limit, points, dtype=torch.float64)
    axis[points // 2] = 0.0  # exactly, so the positive quadrant starts at the origin
    xx, yy = torch.meshgrid(axis, axis, indexing="ij")
    return axis, torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


@pytest.mark.parametrize("config", CONFIGS)
def test_density_integrates_to_one_and_matches_the_samples(config, flowcheck):
    model = build(config, (2,), flowcheck)
    axis, points = grid()
    with torch.no_grad():
        density = model.log_prob(points).exp().view(axis.numel(), axis.numel())
    total = torch.trapezoid(torch.trapezoid(density, axis, dim=1), axis).item()
    assert abs(total - 1.0) < 1e-3

    # The sampler and the density describe the same distribution: the mass of the upper-right
    # quadrant from the grid matches the share of samples there.
    n = 20_000
    samples = model.sample(n, generator=torch.Generator().manual_seed(3))
    share = ((samples[:, 0] > 0) & (samples[:, 1] > 0)).double().mean().item()
    half = slice(axis.numel() // 2, None)  # the grid has an odd size, so this starts exactly at 0
    assert axis[half][0].item() == 0.0
    mass = torch.trapezoid(torch.trapezoid(density[half, half], axis[half], dim=1), axis[half]).item()
    assert abs(share - mass) < 4 * math.sqrt(mass * (1 - mass) / n) + 1e-3


@pytest.mark.parametrize("shape", SHAPES)
def test_sample_shape_dtype_and_repeatability(shape, flowcheck):
    model = build("nsf", shape, flowcheck)
    first = model.sample(5, generator=torch.Generator().manual_seed(0))
    second = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert first.shape == (5, *shape) and first.dtype == torch.float64
    assert torch.equal(first, second)
    assert not first.requires_grad
    assert torch.isfinite(model.log_prob(first)).all()


@pytest.mark.parametrize("config", CONFIGS)
def test_every_parameter_gets_a_finite_gradient_from_the_likelihood(config):
    name, settings = CONFIGS[config]
    torch.manual_seed(0)
    model = create(name, event_shape=(3, 2, 2), **settings).train()
    loss = model.objective(torch.randn(32, 3, 2, 2), "model")["loss"]
    loss.backward()
    for parameter_name, parameter in model.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert torch.isfinite(parameter.grad).all(), parameter_name


@pytest.mark.parametrize("config", ["realnvp-glow", "nsf", "nsf-autoregressive", "maf-actnorm"])
def test_state_dict_restores_the_same_model(config, flowcheck):
    model = build(config, (2,), flowcheck)
    name, settings = CONFIGS[config]
    torch.manual_seed(123)
    restored = create(name, event_shape=(2,), **settings).double()
    restored.load_state_dict(model.state_dict())
    restored.train()  # a loaded ActNorm must not re-initialise on its first training batch
    x = data((2,), 32)
    torch.testing.assert_close(restored.log_prob(x), model.log_prob(x), atol=0, rtol=0)


def test_fresh_flows_are_the_standard_normal():
    for name in ("realnvp", "maf", "nsf"):
        model = create(name, event_shape=(2,)).double().eval()
        x = data((2,), 10)
        expected = -0.5 * x.pow(2).sum(1) - math.log(2 * math.pi)
        # An orthogonal LU layer keeps the standard normal standard, so all three start exact.
        torch.testing.assert_close(model.log_prob(x), expected, atol=1e-5, rtol=0)


def test_registry_entries():
    assert {"realnvp", "maf", "nsf"} <= set(model_names())
    for name in ("realnvp", "maf", "nsf"):
        entry = get_entry(name)
        assert entry.family == "flow" and entry.likelihood == "exact"
        model = create(name, event_shape=(2,))
        assert isinstance(model, Flow) and model.event_shape == (2,)


def test_settings_from_strings_are_converted():
    model = create("nsf", event_shape=(2,), layers="2", bins="5", bound="4", actnorm="true", autoregressive="no")
    assert model.hparams == NSFHyperparameters(layers=2, bins=5, bound=4.0, actnorm=True, autoregressive=False)
    assert model.hyperparameters()["bins"] == 5


@pytest.mark.parametrize(
    "name, settings",
    [
        ("nsf", {"spline_bins": 8}),
        ("nsf", {"layers": 0}),
        ("nsf", {"bins": 1}),
        ("nsf", {"bound": -1.0}),
        ("nsf", {"linear": "householder"}),
        ("nsf", {"activation": "swish"}),
        ("realnvp", {"log_scale_bound": 0}),
        ("realnvp", {"hidden_layers": -1}),
        ("maf", {"hidden_features": "many"}),
        ("maf", {"autoregressive": True}),
        ("nsf", {"autoregressive": True, "fourier_features": 4}),
        ("nsf", {"fourier_features": -1}),
        ("nsf", {"fourier_scale": 0.0}),
        ("realnvp", {"fourier_features": 1.5}),
    ],
)
def test_bad_settings_are_user_errors(name, settings):
    with pytest.raises(UserError):
        create(name, event_shape=(2,), **settings)


@pytest.mark.parametrize("cls", [RealNVPHyperparameters, MAFHyperparameters, NSFHyperparameters])
def test_dataclasses_validate_direct_construction(cls):
    with pytest.raises(UserError):
        cls(layers=0)
    with pytest.raises(UserError):
        cls(activation="swish")


def test_nsf_conditioners_see_fourier_features_unless_autoregressive():
    def fourier_modules(model):
        # An empty projection is the identity: only modules that add features count.
        return [m for m in model.modules() if isinstance(m, FourierFeatures) and m.projection.shape[0] > 0]

    coupling = create("nsf", event_shape=(2,), layers=2)
    assert coupling.hparams.conditioner_features() == 16
    assert [m.projection.shape for m in fourier_modules(coupling)] == [torch.Size([16, 1])] * 2
    assert fourier_modules(create("nsf", event_shape=(2,), layers=2, fourier_features=0)) == []
    autoregressive = create("nsf", event_shape=(2,), layers=2, autoregressive=True)
    assert autoregressive.hparams.conditioner_features() == 0 and fourier_modules(autoregressive) == []


def test_chunked_sampling_equals_one_inverse_pass_of_the_same_noise(monkeypatch):
    import pushforward.models.flows.flow as flow_module

    model = create("nsf", event_shape=(2,), layers=2, hidden_features=16).double().eval()
    torch.nn.utils.vector_to_parameters(
        0.3 * torch.randn(sum(p.numel() for p in model.parameters()), generator=torch.Generator().manual_seed(3), dtype=torch.float64),
        model.parameters(),
    )
    monkeypatch.setattr(flow_module, "SAMPLE_CHUNK_ROWS", 7)  # pieces of 7, 7, ..., 2 rows
    chunked = model.sample(30, generator=torch.Generator().manual_seed(5))
    noise = torch.randn((30, 2), generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    whole, _ = model.inverse(noise)
    torch.testing.assert_close(chunked, whole, atol=1e-12, rtol=0)
