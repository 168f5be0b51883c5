"""Pictures: densities on grids, a fitted model beside its data, training curves, and the
course-style explorer of pushforwards (``plot_density``).

Everything draws on an off-screen Agg canvas and writes files atomically; nothing opens a window.
"""

from pushforward.viz.explore import ExploreResult, plot_density, random_network
from pushforward.viz.expressions import parse_expression
from pushforward.viz.grid import density_on_grid, density_on_line
from pushforward.viz.latent import plot_latent
from pushforward.viz.model_figure import plot_history, plot_model, plot_samples

__all__ = [
    "ExploreResult",
    "density_on_grid",
    "density_on_line",
    "parse_expression",
    "plot_density",
    "plot_history",
    "plot_latent",
    "plot_model",
    "plot_samples",
    "random_network",
]
