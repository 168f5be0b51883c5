import numpy as np
import pytest
import torch

from pushforward.data.source import load_dataset, resolve_spec
from pushforward.errors import UserError


def test_a_file_dataset_carries_the_few_values_warning_and_a_toy_none(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "flags.npy", np.stack([rng.normal(size=100), rng.integers(0, 2, 100)], axis=1))
    dataset = load_dataset(resolve_spec(tmp_path / "flags.npy"))
    assert len(dataset.warnings) == 1 and dataset.warnings[0].startswith("column 'x2' has only 2 distinct values")
    np.save(tmp_path / "smooth.npy", rng.normal(size=(100, 2)))
    assert load_dataset(resolve_spec(tmp_path / "smooth.npy")).warnings == []
    assert load_dataset(resolve_spec("moons", n_train=100, n_validation=20, n_test=20)).warnings == []


def test_an_existing_runs_data_keep_their_splits_and_name_what_a_new_fit_refuses(tmp_path):
    (tmp_path / "twins.csv").write_text("a,a\n" + "".join(f"{i},{(i * 7) % 31}\n" for i in range(100)))
    spec = resolve_spec(tmp_path / "twins.csv")
    with pytest.raises(UserError, match="header names two columns 'a'"):
        load_dataset(spec)
    dataset = load_dataset(spec, existing_run=True)
    assert dataset.columns == ["a", "a"] and dataset.warnings == []
    [note] = dataset.fit_refusals
    assert note.startswith(f"'{tmp_path / 'twins.csv'}' header names two columns 'a' (columns 1 and 2): `fit` refuses such data now")
    assert "(give every column its own name)" in note and "\n" not in note
    # The splits a fit before the check made: the same as those of the same values under other names.
    (tmp_path / "named.csv").write_text("a,b\n" + "".join(f"{i},{(i * 7) % 31}\n" for i in range(100)))
    named = load_dataset(resolve_spec(tmp_path / "named.csv"))
    for split in ("train", "validation", "test"):
        assert torch.equal(getattr(dataset, split), getattr(named, split))
    assert load_dataset(resolve_spec("moons", n_train=100, n_validation=20, n_test=20), existing_run=True).fit_refusals == []
