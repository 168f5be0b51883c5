"""Data: the 2-D toy world with known densities, user files, splits and preprocessing."""

from pushforward.data.preprocessing import Standardize
from pushforward.data.source import Dataset, DataSpec, load_dataset, resolve_spec
from pushforward.data.toy2d import ToyDataset, get_toy, sample_toy, toy_names

__all__ = ["Dataset", "DataSpec", "Standardize", "ToyDataset", "get_toy", "load_dataset", "resolve_spec", "sample_toy", "toy_names"]
