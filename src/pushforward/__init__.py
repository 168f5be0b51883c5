"""pushforward: fit deep generative models, sample from them, measure them honestly, show them."""

__version__ = "0.1.0"
