"""The built-in names (data sets, models, data file types), known without importing torch.

``fit`` checks its DATA and ``--model`` arguments against these before it imports torch and
the model families (about 6 s on a slow machine), so a mistyped name is refused at once. The
registry and the toy world remain the authorities: the tests check that these lists are theirs.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pushforward.errors import UserError, suggest

# The toys of data/toy2d.py, in its order (the order `pushforward datasets` lists them in).
TOY_NAMES = ("checkerboard", "8gaussians", "25gaussians", "moons", "circles", "rings", "2spirals", "pinwheel", "swissroll")
DATA_FILE_SUFFIXES = (".npy", ".csv")

# Every built-in model, with the family package whose import registers it. A new family adds
# its package and names here (models/base.py imports these packages to fill the registry).
BUILTIN_MODELS = {
    "realnvp": "pushforward.models.flows",
    "maf": "pushforward.models.flows",
    "nsf": "pushforward.models.flows",
    "cnf": "pushforward.models.continuous",
    "otflow": "pushforward.models.continuous",
    "cfm": "pushforward.models.continuous",
    "otcfm": "pushforward.models.continuous",
    "rectified": "pushforward.models.continuous",
    "vae": "pushforward.models.vae",
    "iwae": "pushforward.models.vae",
    "ddpm": "pushforward.models.diffusion",
    "gan": "pushforward.models.gan",
    "gan-minimax": "pushforward.models.gan",
    "wgan": "pushforward.models.gan",
    "wgan-gp": "pushforward.models.gan",
}


def check_data_argument(data: str | Path) -> Path | None:
    """None if ``data`` names a built-in toy, the path if it names a data file; otherwise a
    :class:`UserError` naming the problem (an unknown name, a data file that does not exist)."""
    text = str(data)
    if text in TOY_NAMES:
        return None
    path = Path(text).expanduser()
    if path.suffix.lower() in DATA_FILE_SUFFIXES or path.exists():
        if not path.is_file():
            raise UserError(f"data file '{path}' does not exist", "check the path, or use a built-in data set name")
        return path
    raise UserError(f"unknown data set '{text}'", suggest(text, list(TOY_NAMES)) + "; or give a .npy/.csv file")


def check_model_name(name: str) -> None:
    """A :class:`UserError` unless ``name`` is a built-in model or one a program registered (the
    registry holds those only once it is imported, so it is consulted only if it is)."""
    if name in BUILTIN_MODELS:
        return
    registry = sys.modules.get("pushforward.models.base")
    registered = set(getattr(registry, "_REGISTRY", {}))
    if name not in registered:
        raise UserError(f"unknown model '{name}'", suggest(name, sorted(registered | set(BUILTIN_MODELS))))
