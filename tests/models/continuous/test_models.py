"""Every continuous model: exact densities that integrate to 1, their objectives, NFE, settings."""

from __future__ import annotations

import re
import threading

import pytest
import torch

from pushforward.errors import UserError
from pushforward.data.toy2d import get_toy
from pushforward.models.base import create, get_entry, model_hyperparameters
from pushforward.models.continuous.solvers import ODESolver, integrate, integrate_with_log_density, standard_normal_log_prob
from pushforward.settings import split_settings
from tests.conftest import time_scale_rows

NAMES = ["cnf", "otflow", "cfm", "otcfm", "rectified"]
TINY = {"hidden_features": 16}
# Flow matching's field sees Fourier features of x by default. Randomly perturbed, 32 of them
# make a field that throws mass off the grid below, and 4 of bandwidth 0.5 a density too wiggly
# for its cells; 4 of low bandwidth still exercise the feature path.
SMALL = {name: {"space_features": 4, "space_scale": 0.1} for name in ("cfm", "otcfm", "rectified")}


def perturbed(name, seed=0, **settings):
    """A small model moved away from its (near-identity) start, so its density is not Gaussian.

    A v-network's time scales (1 at the start) are pushed less, from a stream of their own, so
    every other weight moves as it would in the same network without scales.
    """
    torch.manual_seed(seed)
    model = create(name, (2,), **{**TINY, **SMALL.get(name, {}), **settings}).double()
    scales = time_scale_rows(getattr(model.field, "network", None))
    first_scale_row = {id(parameter): row for parameter, row in scales}
    with torch.no_grad():
        for parameter in model.parameters():
            moved = parameter[: first_scale_row.get(id(parameter), len(parameter))]
            moved.add_(0.3 * torch.randn_like(moved))
        generator = torch.Generator().manual_seed(seed)
        for parameter, row in scales:
            parameter[row:].add_(0.03 * torch.randn(parameter[row:].shape, generator=generator, dtype=parameter.dtype))
    return model.eval()


@pytest.mark.parametrize("name", NAMES)
def test_density_integrates_to_one_on_a_grid(name):
    model = perturbed(name, rtol=1e-6, atol=1e-6)
    # These densities are smooth: the grid's sum is within 4e-7 of their integral at 61 points a
    # side as at 121 (4e-6 at 41), far inside the tolerance, for a quarter of the ODE solves.
    side = torch.linspace(-8, 8, 61, dtype=torch.float64)
    grid = torch.cartesian_prod(side, side)
    density = model.log_prob(grid).exp()
    cell = float(side[1] - side[0]) ** 2
    assert float(density.sum()) * cell == pytest.approx(1.0, abs=5e-3)
    assert model.nfe_log_prob.per_solve() > 0


@pytest.mark.parametrize("name", NAMES)
def test_samples_map_back_to_their_noise_and_count_nfe(name):
    model = perturbed(name, rtol=1e-7, atol=1e-7, sample_solver="dopri5")
    generator = torch.Generator().manual_seed(5)
    x = model.sample(50, generator=generator)
    z = torch.randn((50, 2), generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    back = model.flow_with_log_density(x, 1.0, 0.0, model.solver).y
    torch.testing.assert_close(back, z, rtol=0, atol=1e-4)
    assert model.nfe_sample.per_solve() > 0


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("sample_solver", ["euler", "rk4", "dopri5"])
def test_cpu_sampling_in_pieces_equals_one_solve_of_the_same_noise(name, sample_solver, monkeypatch):
    import pushforward.models.continuous.model as model_module

    model = perturbed(name, sample_solver=sample_solver, **({} if sample_solver == "dopri5" else {"sample_steps": 5}))
    monkeypatch.setattr(model_module, "SAMPLE_CHUNK_ROWS", 7)  # pieces of 7, 7, 7, 7, 2 rows
    times, pieces = [], []
    at_time = model.field.at_time

    def recording_at_time(t):
        times.append(float(t))
        evaluate = at_time(t)
        return lambda x: pieces.append(len(x)) or evaluate(x)

    monkeypatch.setattr(model.field, "at_time", recording_at_time)
    samples = model.sample(30, generator=torch.Generator().manual_seed(5))
    sampling_times, evaluated = list(times), list(pieces)  # before the reference solve
    noise = torch.randn((30, 2), generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    with torch.no_grad():  # the arithmetic sampling uses (fields fuse differently under autograd)
        whole = integrate(model.field, noise, [0.0, 1.0], model.sample_solver).final
    torch.testing.assert_close(samples, whole, atol=1e-12, rtol=0)
    nfe = int(model.nfe_sample.per_solve())
    if sample_solver == "dopri5":
        # One time path per evaluation of the field, as many as the solve counts.
        assert len(sampling_times) == nfe > 0
    else:
        # One time path per time of the solve: a fixed-step solve forms each time's once,
        # however often it evaluates there (RK4's two midpoint stages, a step's end and the
        # next step's start).
        assert sorted(set(sampling_times)) == sorted(sampling_times)
        assert len(sampling_times) == (2 * 5 + 1 if sample_solver == "rk4" else 5) and nfe == (4 * 5 if sample_solver == "rk4" else 5)
    # Every solver evaluates the field piecewise (an adaptive one still steps the whole batch).
    assert evaluated == [7, 7, 7, 7, 2] * nfe


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("sample_solver", ["rk4", "dopri5"])
def test_cpu_threads_sample_blocks_of_rows_only_with_fixed_steps(name, sample_solver, monkeypatch):
    """On 2 threads a fixed-step sample solve runs as one solve per block of rows, each in its
    own thread, and equals one solve of all rows; an adaptive one stays one solve (its steps
    are chosen for the whole batch)."""
    import pushforward.models.continuous.model as model_module
    import pushforward.models.row_threads as row_threads

    model = perturbed(name, sample_solver=sample_solver, **({} if sample_solver == "dopri5" else {"sample_steps": 5}))
    monkeypatch.setattr(model_module, "SAMPLE_CHUNK_ROWS", 7)
    monkeypatch.setattr(row_threads, "MIN_ROWS_PER_THREAD", 8)
    threads, pieces = set(), []
    at_time = model.field.at_time

    def recording_at_time(t):
        threads.add(threading.current_thread().name)
        evaluate = at_time(t)
        return lambda x: pieces.append(len(x)) or evaluate(x)

    monkeypatch.setattr(model.field, "at_time", recording_at_time)
    torch.set_num_threads(2)
    samples = model.sample(30, generator=torch.Generator().manual_seed(5))
    sampling_threads, sampling_pieces = set(threads), list(pieces)  # before the reference solve
    noise = torch.randn((30, 2), generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    with torch.no_grad():
        whole = integrate(model.field, noise, [0.0, 1.0], model.sample_solver).final
    torch.testing.assert_close(samples, whole, atol=1e-12, rtol=0)
    if sample_solver == "rk4":
        # Two blocks of 15 rows, pieces of 7, 7, 1, in workers (the pool may hand both blocks
        # to one worker when the first finishes early).
        assert all(name.startswith("pushforward-rows") for name in sampling_threads)
        assert sorted(sampling_pieces) == sorted([7, 7, 1] * 2 * 4 * 5)  # 2 blocks × 4 stages × 5 steps
        assert model.nfe_sample.solves == 2 and model.nfe_sample.per_solve() == 4 * 5
    else:
        assert sampling_threads == {threading.current_thread().name}
        assert sorted(set(sampling_pieces)) == [2, 7] and model.nfe_sample.solves == 1


def test_otflow_closed_form_log_density_matches_the_autograd_trace():
    model = perturbed("otflow")
    x = torch.randn(40, 2, dtype=torch.float64)
    solver = ODESolver("rk4", steps=16)
    closed = model.flow_with_log_density(x, 1.0, 0.0, solver)
    generic = integrate_with_log_density(model.field, x, 1.0, 0.0, solver, divergence="exact")
    torch.testing.assert_close(closed.y, generic.y)
    torch.testing.assert_close(closed.delta_log_p, generic.delta_log_p)


def test_otflow_log_density_gradients_are_the_same_by_the_adjoint_method():
    # A solve shares the potential's weight-only tensors, made before it, between its
    # evaluations: the adjoint method's backward must still reach the parameters through them.
    model = perturbed("otflow")
    x = torch.randn(24, 2, dtype=torch.float64)
    gradients = []
    for adjoint in (False, True):
        model.zero_grad()
        result = model.flow_with_log_density(x, 1.0, 0.0, ODESolver("dopri5", rtol=1e-10, atol=1e-10, adjoint=adjoint))
        (standard_normal_log_prob(result.y) - result.delta_log_p).mean().backward()
        # Φ's constant (c's bias) moves nothing: None by backpropagation, zeros by the adjoint.
        gradients.append([torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in model.parameters()])
    for direct, adjoint in zip(*gradients):
        torch.testing.assert_close(adjoint, direct, rtol=1e-5, atol=1e-7)
    assert sum(int(g.abs().sum() > 0) for g in gradients[0]) == len(gradients[0]) - 1


def test_cnf_objective_is_the_nll_plus_the_rnode_costs():
    model = perturbed("cnf", kinetic=0.5, jacobian=0.25, train_solver="rk4", train_steps=8)
    x = torch.randn(32, 2, dtype=torch.float64)
    outputs = model.objective(x, "model")
    with torch.no_grad():
        reference = integrate_with_log_density(model.field, x, 1.0, 0.0, ODESolver("rk4", steps=8), regularize=True)
    nll = -(standard_normal_log_prob(reference.y) - reference.delta_log_p).mean()
    expected = nll + 0.5 * reference.kinetic.mean() + 0.25 * reference.jacobian.mean()
    torch.testing.assert_close(outputs["loss"].detach(), expected)
    assert outputs["nfe"] == 32 and outputs["kinetic"] > 0 and outputs["jacobian"] > 0
    outputs["loss"].backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_otflow_objective_adds_transport_and_hjb_costs():
    model = perturbed("otflow", train_steps=4)
    outputs = model.objective(torch.randn(32, 2, dtype=torch.float64), "model")
    weights = model.hparams
    expected = outputs["nll"] + weights.transport * outputs["transport"] + weights.hjb * outputs["hjb"]
    torch.testing.assert_close(outputs["loss"].detach(), expected)
    assert outputs["nfe"] == 16 and outputs["transport"] > 0 and outputs["hjb"] >= 0


def test_otflow_validates_by_an_adaptive_solve_not_its_training_steps():
    # A field that exploits its training discretisation must not look better to validation:
    # the score is the NLL of an adaptive solve (dopri5 at 1e-4), close to the exact one,
    # whatever the training solve makes of the same field.
    model = perturbed("otflow", train_steps=2)
    with torch.no_grad():  # a rougher field, on which two RK4 steps are visibly wrong
        for parameter in model.potential.parameters():
            parameter.mul_(1.5)
    x = torch.randn(64, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

    def nll(solver: ODESolver) -> float:
        with torch.no_grad():
            result = integrate_with_log_density(model.field, x, 1.0, 0.0, solver, divergence="exact")
        return float(-(standard_normal_log_prob(result.y) - result.delta_log_p).mean())

    exact = nll(ODESolver("dopri5", rtol=1e-10, atol=1e-10))
    trained_on = nll(ODESolver("rk4", steps=2))
    score = model.validation_score(x)
    assert abs(trained_on - exact) > 1e-2
    assert abs(score - exact) < 1e-3  # ten times the solve's tolerance


def test_cnf_with_hutchinson_trains_on_an_unbiased_nll():
    model = perturbed("cnf", divergence="hutchinson", train_solver="rk4", train_steps=4)
    x = torch.randn(4000, 2, dtype=torch.float64)
    with torch.no_grad():
        exact = -model.log_prob(x).mean()
        estimate = model.objective(x, "model")["nll"]
    assert float(estimate) == pytest.approx(float(exact), abs=0.05)


@pytest.mark.parametrize(
    "name,settings,message",
    [
        ("cnf", {"solver": "foo"}, "unknown ODE solver 'foo'"),
        ("cfm", {"sample_solver": "heun"}, "unknown ODE solver 'heun'"),
        ("otflow", {"rtol": 0}, "rtol must lie in (0, 1)"),
        ("cfm", {"atol": 2}, "atol must lie in (0, 1)"),
        ("cnf", {"train_solver": "rk5"}, "unknown ODE solver 'rk5' (train_solver)"),
        # Each message names the setting to change, not the solver's own field.
        ("cfm", {"sample_steps": 0}, "sample_steps must be an integer >= 1, not 0; use e.g. --set sample_steps=8"),
        ("cnf", {"train_rtol": 2.0}, "train_rtol must lie in (0, 1), not 2.0; use e.g. --set train_rtol=1e-5"),
        ("otflow", {"train_steps": 0}, "train_steps must be an integer >= 1"),
        ("cfm", {"sample_grid_power": -1}, "sample_grid_power must be a positive number, not -1"),
        ("cnf", {"steps": 0}, "steps must be an integer >= 1, not 0; use e.g. --set steps=8"),
        ("cnf", {"divergence": "approx"}, "not a valid value for divergence"),
        ("cnf", {"kinetic": -1}, "kinetic must be a number >= 0"),
        ("otflow", {"hidden_layers": 1}, "hidden_layers must be an integer >= 2"),
        ("otcfm", {"coupling": "sinkhorn"}, "not a valid value for coupling"),
        ("rectified", {"sigma": -0.1}, "sigma must be a number >= 0"),
        ("cfm", {"time_power": 0}, "time_power must be a positive number"),
    ],
)
def test_bad_settings_fail_when_the_model_is_created(name, settings, message):
    with pytest.raises(UserError) as caught:
        create(name, (2,), **settings)
    assert message in caught.value.one_line()


def test_default_sampling_of_a_trained_flow_matching_model_is_close_to_the_tight_solve():
    # Six RK4 steps suffice for regression-trained fields (nearly straight), not for random
    # ones: train a small rectified flow briefly first.
    torch.manual_seed(0)
    data = get_toy("checkerboard").sample(4096, seed=0)
    data = (data - data.mean(0)) / data.std(0)
    model = create("rectified", (2,), hidden_features=32)
    assert (model.sample_solver.method, model.sample_solver.steps, model.sample_solver.grid_power) == ("rk4", 6, 1.5)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        optimizer.zero_grad()
        model.regression_loss(data[torch.randint(0, len(data), (512,))]).backward()
        optimizer.step()
    model.eval()
    fast = model.sample(2000, generator=torch.Generator().manual_seed(0))
    assert model.nfe_sample.per_solve() == 24
    model.sample_solver = ODESolver("dopri5", rtol=1e-7, atol=1e-7)
    exact = model.sample(2000, generator=torch.Generator().manual_seed(0))
    # Mean displacement against the data's unit scale (the squares are ~0.9 wide).
    assert float((fast - exact).norm(dim=1).mean()) < 0.01


def suggested_settings(advice: str) -> dict[str, str]:
    """The ``--set key=value`` pairs a piece of advice names."""
    return dict(re.findall(r"--set (\w+)=([^\s)]+)", advice))


@pytest.mark.parametrize("name", NAMES)
def test_divergence_advice_names_settings_the_model_accepts(name):
    """What a diverging run prints must be actionable: every ``--set key=value`` it names is a
    setting this model (or the trainer) accepts, at a valid value."""
    advice = create(name, (2,)).divergence_advice() or ""
    suggested = suggested_settings(advice)
    concrete = {key: value for key, value in suggested.items() if value != "..."}
    settings = split_settings(get_entry(name), concrete)  # unknown keys and bad values raise
    model_hyperparameters(name, **settings.model)


def test_otflow_divergence_advice_weighs_its_costs_more_than_the_defaults():
    """The advice says to weigh the transport and HJB costs more: its values must lie above the
    defaults (the advice once suggested hjb=0.5, which became the default)."""
    model = create("otflow", (2,))
    suggested = suggested_settings(model.divergence_advice() or "")
    assert float(suggested["hjb"]) > model.hparams.hjb
    assert float(suggested["transport"]) > model.hparams.transport
