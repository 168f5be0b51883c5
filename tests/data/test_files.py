import numpy as np
import pytest

from pushforward.data.files import read_table, write_table
from pushforward.errors import UserError


def write_csv(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_header_is_read_as_floats(tmp_path):
    rows = "\n".join(f"{i},{i * 0.5}" for i in range(20))
    table = read_table(write_csv(tmp_path / "d.csv", "height,weight\n" + rows + "\n"))
    assert table.columns == ["height", "weight"]
    assert table.values.shape == (20, 2)
    assert table.values[3, 1] == 1.5
    assert len(table.sha256) == 64


def test_npy_round_trip_and_one_dimensional_arrays(tmp_path):
    values = np.random.default_rng(0).normal(size=(30, 3))
    np.save(tmp_path / "a.npy", values)
    np.testing.assert_array_equal(read_table(tmp_path / "a.npy").values, values)
    np.save(tmp_path / "b.npy", values[:, 0])
    assert read_table(tmp_path / "b.npy").values.shape == (30, 1)


@pytest.mark.parametrize(
    "content,message",
    [
        ("a,b\n" + "1,2\n" * 9 + "1,oops\n", "'oops' is not a number"),
        ("a,b\n" + "1,2\n" * 9 + "1\n", "has 1 values but the header has 2"),
        ("1,2\n" * 12, "no header row"),
        ("a,b\n" + "1,2\n" * 3, "only 3 rows"),
        ("a,b\n" + "1,2\n" * 9 + "nan,2\n", "NaN or infinite"),
        ("a,b\n" + "1,2\n" * 9 + "inf,3\n", "NaN or infinite"),
        ("a,b\n" + "".join(f"1,{i}\n" for i in range(12)), "constant"),
    ],
)
def test_bad_csv_files_name_the_problem(tmp_path, content, message):
    with pytest.raises(UserError, match=message):
        read_table(write_csv(tmp_path / "bad.csv", content))


def test_npy_with_objects_is_refused_without_unpickling(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}] * 12, dtype=object), allow_pickle=True)
    with pytest.raises(UserError, match="never unpickled"):
        read_table(tmp_path / "obj.npy")


def test_a_file_that_is_not_npy_is_called_so(tmp_path):
    import pickle

    (tmp_path / "text.npy").write_text("1,2\n3,4\n")
    (tmp_path / "pickled.npy").write_bytes(pickle.dumps([[1.0, 2.0]] * 12))  # a bare pickle: never loaded
    for name in ("text.npy", "pickled.npy"):
        with pytest.raises(UserError, match="is not a .npy file"):
            read_table(tmp_path / name)


def test_wrong_shape_and_type(tmp_path):
    np.save(tmp_path / "cube.npy", np.zeros((12, 2, 2)))
    with pytest.raises(UserError, match="shape"):
        read_table(tmp_path / "cube.npy")
    (tmp_path / "data.txt").write_text("1 2\n")
    with pytest.raises(UserError, match="unsupported file type"):
        read_table(tmp_path / "data.txt")
    with pytest.raises(UserError, match="does not exist"):
        read_table(tmp_path / "missing.csv")


def test_write_table_formats(tmp_path):
    values = np.arange(6, dtype=float).reshape(3, 2)
    write_table(tmp_path / "s.tmp", ".csv", values, ["u", "v"])
    assert (tmp_path / "s.tmp").read_text().splitlines()[0] == "u,v"
    write_table(tmp_path / "t.tmp", ".npy", values, ["u", "v"])
    np.testing.assert_array_equal(np.load(tmp_path / "t.tmp"), values.astype(np.float32))


def test_a_sample_csv_reads_back_to_the_same_float32_values(tmp_path):
    # Values whose float32 neighbours differ only in the 8th or 9th significant digit.
    rng = np.random.default_rng(1)
    values = np.concatenate(
        [rng.normal(size=(50, 2)), rng.normal(1000.0, 1.0, size=(50, 2)), rng.normal(0.0, 1e-20, size=(50, 2))]
    ).astype(np.float32)
    write_table(tmp_path / "s.csv", ".csv", values, ["u", "v"])
    back = read_table(tmp_path / "s.csv").values
    np.testing.assert_array_equal(back.astype(np.float32), values)
