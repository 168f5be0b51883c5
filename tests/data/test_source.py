import numpy as np

from pushforward.data.source import load_dataset, resolve_spec


def test_a_file_dataset_carries_the_few_values_warning_and_a_toy_none(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "flags.npy", np.stack([rng.normal(size=100), rng.integers(0, 2, 100)], axis=1))
    dataset = load_dataset(resolve_spec(tmp_path / "flags.npy"))
    assert len(dataset.warnings) == 1 and dataset.warnings[0].startswith("column 'x2' has only 2 distinct values")
    np.save(tmp_path / "smooth.npy", rng.normal(size=(100, 2)))
    assert load_dataset(resolve_spec(tmp_path / "smooth.npy")).warnings == []
    assert load_dataset(resolve_spec("moons", n_train=100, n_validation=20, n_test=20)).warnings == []
