"""Model families behind one interface; see :mod:`pushforward.models.base`."""

from pushforward.models.base import GenerativeModel, ModelEntry, available_models, create, get_entry, model_names, register

__all__ = ["GenerativeModel", "ModelEntry", "available_models", "create", "get_entry", "model_names", "register"]
