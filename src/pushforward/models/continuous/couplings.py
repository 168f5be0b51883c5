"""Pairing noise with data in a minibatch: independently, or by exact optimal transport.

With equal weights on two point clouds of the same size, the exact optimal transport plan for
the squared Euclidean cost is a permutation (Birkhoff–von Neumann), so pairing reduces to
reordering the noise. Tong, Fatras, Malkin, Huguet, Zhang, Rector-Brooks, Wolf, Bengio,
"Improving and generalizing flow-based generative models with minibatch optimal transport",
TMLR 2024, show that regressing on these straighter pairs gives fields that an ODE solver
integrates in fewer steps.

The permutation is found as the linear assignment problem it is, by SciPy's
``linear_sum_assignment`` (the shortest-augmenting-path method of Crouse, "On implementing 2D
rectangular assignment algorithms", IEEE Trans. Aerospace and Electronic Systems, 2016): the
same optimum as a general OT solver such as POT's network simplex ``ot.emd`` (the tests check
the two agree), at 0.11 against 0.44 ms for 64 points and 6 against 11 ms for 256 on this
project's CPU.
"""

from __future__ import annotations

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from pushforward.device import widened


def ot_pairing(x0: Tensor, x1: Tensor) -> Tensor:
    """The permutation ``σ`` minimising ``Σ ‖x0[σ(i)] − x1[i]‖²``, as an index tensor for ``x0``.

    Both batches hold ``n`` events of any shape.
    """
    return blockwise_ot_pairing(x0, x1, x0.shape[0])


def blockwise_ot_pairing(x0: Tensor, x1: Tensor, block: int) -> Tensor:
    """OT pairing within consecutive blocks of ``block`` rows (the last one may be shorter).

    Exact OT costs about n³, so a large batch is paired block by block: ``x0[index]`` is, in
    every block, the permutation of that block of ``x0`` closest to the same block of ``x1``.
    """
    n = x0.shape[0]
    if x1.shape[0] != n:
        raise ValueError(f"OT pairing needs batches of one size, not {n} and {x1.shape[0]}")
    if block < 1:
        raise ValueError(f"OT blocks need at least one point, not {block}")
    noise = widened(x0.detach().reshape(n, -1).cpu())  # to the CPU first: MPS has no float64
    data = widened(x1.detach().reshape(n, -1).cpu())
    index = torch.empty(n, dtype=torch.long)
    # The full blocks' cost matrices in one batched product (rows: data, columns: noise),
    # float64 so near-ties are ranked by the true cost; a shorter last block on its own.
    full = n - n % block
    costs = list(torch.cdist(data[:full].view(-1, block, data.shape[1]), noise[:full].view(-1, block, noise.shape[1])).square().numpy())
    if full < n:
        costs.append(torch.cdist(data[full:], noise[full:]).square().numpy())
    start = 0
    for cost in costs:
        rows, columns = linear_sum_assignment(cost)
        index[start + rows] = torch.from_numpy(columns) + start
        start += cost.shape[0]
    return index.to(x0.device)
