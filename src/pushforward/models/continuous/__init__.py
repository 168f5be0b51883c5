"""Continuous normalizing flows: a time-dependent field pushes the Gaussian along an ODE.

The core — fields (:mod:`.fields`), divergences (:mod:`.divergence`) and one solver entry point
with the log-density flow (:mod:`.solvers`) — is shared by the models built on it. Importing
this package registers ``cnf``, ``otflow``, ``cfm``, ``otcfm`` and ``rectified``.
"""

from pushforward.models.continuous.divergence import divergence_exact, divergence_hutchinson, sample_probe
from pushforward.models.continuous.fields import FieldFactory, MLPField, VectorField, mlp_field
from pushforward.models.continuous.solvers import (
    ADAPTIVE_METHODS,
    FIXED_METHODS,
    METHODS,
    FlowResult,
    ODESolution,
    ODESolver,
    integrate,
    integrate_with_log_density,
    odeint,
    standard_normal_log_prob,
)
from pushforward.models.continuous.model import ContinuousFlow  # noqa: E402  (after the core)
from pushforward.models.continuous.cnf import CNF  # noqa: E402
from pushforward.models.continuous.flow_matching import FlowMatching  # noqa: E402
from pushforward.models.continuous.otflow import OTFlow  # noqa: E402

__all__ = [
    "CNF",
    "ContinuousFlow",
    "FlowMatching",
    "OTFlow",
    "ADAPTIVE_METHODS",
    "FIXED_METHODS",
    "METHODS",
    "FieldFactory",
    "FlowResult",
    "MLPField",
    "ODESolution",
    "ODESolver",
    "VectorField",
    "divergence_exact",
    "divergence_hutchinson",
    "integrate",
    "integrate_with_log_density",
    "mlp_field",
    "odeint",
    "sample_probe",
    "standard_normal_log_prob",
]
