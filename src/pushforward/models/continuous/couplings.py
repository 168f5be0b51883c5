"""Pairing noise with data in a minibatch: independently, or by exact optimal transport.

With equal weights on two point clouds of the same size, the exact optimal transport plan for
the squared Euclidean cost is a permutation (Birkhoff–von Neumann), so pairing reduces to
reordering the noise. Tong, Fatras, Malkin, Huguet, Zhang, Rector-Brooks, Wolf, Bengio,
"Improving and generalizing flow-based generative models with minibatch optimal transport",
TMLR 2024, show that regressing on these straighter pairs gives fields that an ODE solver
integrates in fewer steps. The plan comes from POT's network simplex (``ot.emd``; Flamary et
al., "POT: Python Optimal Transport", JMLR 2021).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def ot_pairing(x0: Tensor, x1: Tensor) -> Tensor:
    """The permutation ``σ`` minimising ``Σ ‖x0[σ(i)] − x1[i]‖²``, as an index tensor for ``x0``.

    Both batches hold ``n`` events of any shape. Ties and degenerate plans fall back on the
    plan's largest entry per row, which for a permutation plan is the permutation itself.
    """
    import ot

    n = x0.shape[0]
    if x1.shape[0] != n:
        raise ValueError(f"OT pairing needs batches of one size, not {n} and {x1.shape[0]}")
    a = x0.detach().reshape(n, -1).double().cpu()
    b = x1.detach().reshape(n, -1).double().cpu()
    cost = torch.cdist(b, a).pow(2).numpy()  # rows: data, columns: noise
    weights = np.full(n, 1.0 / n)
    plan = ot.emd(weights, weights, cost)
    return torch.from_numpy(plan.argmax(axis=1)).to(x0.device)
