"""Discrete normalizing flows: pure kernels → transforms → flows → named recipes.

Importing this package registers ``realnvp``, ``maf`` and ``nsf`` with :mod:`pushforward.models.base`.
"""

from pushforward.models.flows.autoregressive import MaskedAutoregressive
from pushforward.models.flows.conditioners import FlatMLP, Unconditional, mlp_conditioner
from pushforward.models.flows.coupling import Coupling
from pushforward.models.flows.elementwise import AffineKernel, ElementwiseKernel, SplineKernel
from pushforward.models.flows.flow import Flow
from pushforward.models.flows.linear import LULinear, Permutation
from pushforward.models.flows.normalization import ActNorm
from pushforward.models.flows.recipes import (
    MAF,
    NSF,
    MAFHyperparameters,
    NSFHyperparameters,
    RealNVP,
    RealNVPHyperparameters,
    autoregressive_stack,
    coupling_stack,
)
from pushforward.models.flows.transforms import Composition, Transform

__all__ = [
    "MAF",
    "NSF",
    "ActNorm",
    "AffineKernel",
    "Composition",
    "Coupling",
    "ElementwiseKernel",
    "FlatMLP",
    "Flow",
    "LULinear",
    "MAFHyperparameters",
    "MaskedAutoregressive",
    "NSFHyperparameters",
    "Permutation",
    "RealNVP",
    "RealNVPHyperparameters",
    "SplineKernel",
    "Transform",
    "Unconditional",
    "autoregressive_stack",
    "coupling_stack",
    "mlp_conditioner",
]
