"""Optimizer state as flat tensors + JSON, so checkpoints need no pickle.

``torch.optim`` state dicts mix tensors and Python values; safetensors holds only tensors.
These two functions split a state dict into ``{name: tensor}`` and a JSON-able remainder, and
put it back together.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


def flatten_optimizer_state(state: dict[str, Any], prefix: str) -> tuple[dict[str, Tensor], dict[str, Any]]:
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, Any] = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            name = f"{prefix}.state.{index}.{key}"
            if isinstance(value, Tensor):
                tensors[name] = value.detach().contiguous()
            else:
                scalars[name] = value
    groups = []
    for group in state["param_groups"]:
        groups.append({k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items()})
    return tensors, {"scalars": scalars, "param_groups": groups}


def unflatten_optimizer_state(tensors: dict[str, Tensor], meta: dict[str, Any], prefix: str) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    head = f"{prefix}.state."
    for name, value in list(tensors.items()) + list(meta["scalars"].items()):
        if not name.startswith(head):
            continue
        index, key = name[len(head) :].split(".", 1)
        state.setdefault(int(index), {})[key] = value
    groups = []
    for group in meta["param_groups"]:
        restored = dict(group)
        if "betas" in restored and isinstance(restored["betas"], list):
            restored["betas"] = tuple(restored["betas"])
        groups.append(restored)
    return {"state": state, "param_groups": groups}


def clone_state(module: torch.nn.Module) -> dict[str, Tensor]:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}
