"""Denoising diffusion: schedules, noising, samplers and the probability-flow ODE (math) →
the denoising network → the model.

Importing this package registers ``ddpm`` with :mod:`pushforward.models.base`.
"""

from pushforward.models.diffusion.model import DDPM, DDPMHyperparameters
from pushforward.nn.time_conditioned import TimeConditionedMLP
from pushforward.models.diffusion.schedules import NoiseSchedule

__all__ = ["DDPM", "DDPMHyperparameters", "NoiseSchedule", "TimeConditionedMLP"]
