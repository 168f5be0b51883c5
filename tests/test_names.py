"""The built-in names known without torch: the same as the registry's and the toy world's."""

from __future__ import annotations

import pytest

from pushforward.errors import UserError
from pushforward.names import BUILTIN_MODELS, TOY_NAMES, check_data_argument, check_model_name


def test_the_toy_names_are_the_toy_worlds():
    from pushforward.data.toy2d import toy_names

    assert list(TOY_NAMES) == toy_names()


def test_the_built_in_models_are_those_their_family_packages_register():
    from pushforward.models.base import available_models

    built_in = {entry.name: entry.cls.__module__ for entry in available_models() if entry.cls.__module__.startswith("pushforward.models.")}
    assert set(built_in) == set(BUILTIN_MODELS)
    for name, module in built_in.items():
        assert module.startswith(BUILTIN_MODELS[name] + "."), name


def test_unknown_names_are_refused_with_the_closest_choice(tmp_path):
    with pytest.raises(UserError, match=r"^unknown data set 'moon'; did you mean 'moons'\?.*; or give a \.npy/\.csv file$"):
        check_data_argument("moon")
    with pytest.raises(UserError, match=r"^data file '.*missing\.csv' does not exist"):
        check_data_argument(tmp_path / "missing.csv")
    (tmp_path / "table.csv").write_text("a\n1\n")
    assert check_data_argument("checkerboard") is None and check_data_argument(tmp_path / "table.csv") == tmp_path / "table.csv"
    with pytest.raises(UserError, match=r"^unknown model 'nfs'; did you mean 'nsf'\?"):
        check_model_name("nfs")
    check_model_name("wgan-gp")
    check_model_name("test-gaussian")  # registered by the tests' conftest, as a program may
