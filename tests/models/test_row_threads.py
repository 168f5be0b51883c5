"""Rows split across threads by blocks: the same values as one call, in order, and the caller's
thread settings and modes kept."""

from __future__ import annotations

import threading

import pytest
import torch

from pushforward.models.row_threads import MIN_ROWS_PER_THREAD, on_threads_by_rows, threads_for_rows

needs_openmp = pytest.mark.skipif(not torch.backends.openmp.is_available(), reason="rows are split on OpenMP builds only")


def _thread_settings() -> list[str]:
    """The OpenMP and MKL thread counts torch reports (MKL's is process-wide)."""
    return [line for line in torch.__config__.parallel_info().splitlines() if "max_threads" in line]


def _network() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.SiLU(), torch.nn.Linear(32, 2))


@needs_openmp
def test_blocks_in_their_own_threads_give_one_calls_values_in_order():
    torch.set_num_threads(2)
    network, x = _network(), torch.randn(5 * MIN_ROWS_PER_THREAD + 3, 2)
    seen: list[tuple[int, str, int]] = []

    def function(rows: torch.Tensor) -> torch.Tensor:
        seen.append((rows.shape[0], threading.current_thread().name, torch.get_num_threads()))
        return network(rows)

    with torch.no_grad():
        expected = network(x)
        result = on_threads_by_rows(function, x)
    torch.testing.assert_close(result, expected, rtol=1e-6, atol=1e-6)
    assert sorted(size for size, _, _ in seen) == [x.shape[0] // 2, x.shape[0] - x.shape[0] // 2]
    assert all(name.startswith("pushforward-rows") and threads == 1 for _, name, threads in seen)


@needs_openmp
def test_the_callers_thread_count_is_restored():
    torch.set_num_threads(2)
    before = _thread_settings()
    with torch.no_grad():
        on_threads_by_rows(_network(), torch.randn(4 * MIN_ROWS_PER_THREAD, 2))
    assert torch.get_num_threads() == 2
    assert _thread_settings() == before


@needs_openmp
def test_grad_and_inference_modes_reach_the_workers():
    torch.set_num_threads(2)
    x = torch.randn(2 * MIN_ROWS_PER_THREAD, 2, requires_grad=True)
    squared = on_threads_by_rows(lambda rows: rows.square(), x)
    squared.sum().backward()  # the workers' graphs join the caller's
    torch.testing.assert_close(x.grad, 2 * x.detach())
    with torch.inference_mode():
        result = on_threads_by_rows(lambda rows: rows * 1.0, x.detach())
    assert result.is_inference()
    with torch.no_grad():
        assert not on_threads_by_rows(lambda rows: rows * x[: rows.shape[0]], x).requires_grad


@needs_openmp
def test_an_error_in_a_block_reaches_the_caller_and_the_thread_count_is_restored():
    torch.set_num_threads(2)

    def failing(rows: torch.Tensor) -> torch.Tensor:
        raise ValueError("a block failed")

    with pytest.raises(ValueError, match="a block failed"):
        on_threads_by_rows(failing, torch.randn(2 * MIN_ROWS_PER_THREAD, 2))
    assert torch.get_num_threads() == 2


def test_one_thread_or_few_rows_is_one_call_on_the_callers_thread():
    calls: list[tuple[int, str]] = []

    def function(rows: torch.Tensor) -> torch.Tensor:
        calls.append((rows.shape[0], threading.current_thread().name))
        return rows

    torch.set_num_threads(1)
    on_threads_by_rows(function, torch.randn(4 * MIN_ROWS_PER_THREAD, 2))
    torch.set_num_threads(2)
    on_threads_by_rows(function, torch.randn(2 * MIN_ROWS_PER_THREAD - 1, 2))
    caller = threading.current_thread().name
    assert calls == [(4 * MIN_ROWS_PER_THREAD, caller), (2 * MIN_ROWS_PER_THREAD - 1, caller)]
    assert threads_for_rows(10**6, torch.device("meta")) == 1
