import re

import numpy as np
import pytest

from pushforward.data.files import few_valued_columns, few_values_warning, read_table, write_table
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


# -- where a problem is: the file's own line and the column's name --------------------------------


def test_errors_give_the_files_line_counting_blank_lines(tmp_path):
    # Blank lines after the header and between rows: the bad cell is on line 15 of the file.
    text = "p,q\n\n" + "1,2\n" * 5 + "\n\n" + "3,4\n" * 5 + "1.0,abc\n" + "5,6\n" * 3
    assert text.splitlines()[14] == "1.0,abc"
    with pytest.raises(UserError, match=r"line 15, column 'q': 'abc' is not a number"):
        read_table(write_csv(tmp_path / "blank.csv", text))
    with pytest.raises(UserError, match=r"1 NaN or infinite value \(the first at line 15, column 'q'\)"):
        read_table(write_csv(tmp_path / "nan.csv", text.replace("abc", "nan")))


def test_nan_in_an_npy_file_is_named_by_row_and_column(tmp_path):
    values = np.random.default_rng(0).normal(size=(20, 3))
    values[4, 1], values[9, 2] = np.inf, np.nan
    np.save(tmp_path / "a.npy", values)
    with pytest.raises(UserError, match=r"2 NaN or infinite values \(the first at row 5, column 'x2'\)"):
        read_table(tmp_path / "a.npy")


def test_empty_cells_are_called_missing_values_and_counted(tmp_path):
    rows = [f"{i},{i % 3}" for i in range(20)]
    rows[3], rows[8], rows[9] = "1,", " ,2", "4,  "
    rows[12] = "x,2"  # after the first missing value: the missing values are reported
    with pytest.raises(UserError) as error:
        read_table(write_csv(tmp_path / "m.csv", "a,b\n" + "\n".join(rows) + "\n"))
    message = str(error.value)
    assert "has 3 missing values (empty cells or markers such as NA; the first at line 5, column 'b')" in message
    assert message.endswith("remove or impute the rows with missing values") and "not a number" not in message
    rows[2] = "x,2"  # before it: the word is reported, as before
    with pytest.raises(UserError, match=r"line 4, column 'a': 'x' is not a number"):
        read_table(write_csv(tmp_path / "n.csv", "a,b\n" + "\n".join(rows) + "\n"))


@pytest.mark.parametrize("marker", ["NA", "n/a", "null", "None", "?", "#N/A"])
def test_the_usual_missing_value_markers_are_missing_values(tmp_path, marker):
    rows = [f"{i},{i % 3}" for i in range(20)]
    rows[6] = f"3,{marker}"
    with pytest.raises(UserError, match=r"has 1 missing value \(.*line 8, column 'b'\)"):
        read_table(write_csv(tmp_path / "m.csv", "a,b\n" + "\n".join(rows) + "\n"))


def test_constant_columns_are_named(tmp_path):
    rows = "".join(f"{i},7,{i * i},0\n" for i in range(12))
    with pytest.raises(UserError, match=r"columns 'speed', 'flag' are constant, so they have no density; drop them"):
        read_table(write_csv(tmp_path / "c.csv", "height,speed,area,flag\n" + rows))
    np.save(tmp_path / "c.npy", np.stack([np.arange(12.0), np.ones(12)], axis=1))
    with pytest.raises(UserError, match=r"column 'x2' is constant, so it has no density; drop it"):
        read_table(tmp_path / "c.npy")


@pytest.mark.parametrize(
    "header,message",
    [
        ("a,a", r"header names two columns 'a' \(columns 1 and 2\); give every column its own name"),
        ("t,a, a ", r"header names two columns 'a' \(columns 2 and 3\)"),
        (",b", r"header has no name for column 1; name every column in the header row"),
        ("a, ,c", r"header has no name for column 2"),
    ],
)
def test_column_names_must_be_given_and_distinct(tmp_path, header, message):
    width = header.count(",") + 1
    rows = "".join(",".join(str(i * (k + 1)) for k in range(width)) + "\n" for i in range(12))
    with pytest.raises(UserError, match=message):
        read_table(write_csv(tmp_path / "names.csv", header + "\n" + rows))


# -- columns float32 cannot hold: models compute in float32 -------------------------------------


def write_column(path, name, column):
    rng = np.random.default_rng(5)
    lines = [f"{name},other"] + [f"{float(value)!r},{rng.normal()!r}" for value in column]
    return write_csv(path, "\n".join(lines) + "\n")


def test_a_column_with_a_large_offset_is_refused_and_the_suggested_offset_works(tmp_path):
    epoch = 1.7e9 + np.random.default_rng(0).normal(0.0, 50.0, size=300)
    with pytest.raises(UserError) as error:
        read_table(write_column(tmp_path / "epoch.csv", "epoch_s", epoch))
    message = str(error.value)
    assert message.count("\n") == 0 and "column 'epoch_s'" in message and "float32's step is 128" in message
    offset = float(re.search(r"subtract an offset \(e\.g\. epoch_s - ([0-9.e+-]+)\) or rescale the column$", message)[1])
    table = read_table(write_column(tmp_path / "shifted.csv", "epoch_s", epoch - offset))
    assert table.values[:, 0].std() == pytest.approx(epoch.std(), rel=1e-6)


def test_values_beyond_float32s_range_are_refused_and_the_suggested_scale_works(tmp_path):
    big = 1e39 * (1 + 0.1 * np.random.default_rng(0).normal(size=50))
    with pytest.raises(UserError, match=r"column 'big' has values beyond float32's range .*; rescale the column \(e\.g\. big / (1e\d+)\)$") as error:
        read_table(write_column(tmp_path / "big.csv", "big", big))
    divisor = float(re.search(r"big / (1e\d+)", str(error.value))[1])
    np.save(tmp_path / "big.npy", np.stack([big, big**0.01], axis=1))
    with pytest.raises(UserError, match="column 'x1' has values beyond float32's range"):
        read_table(tmp_path / "big.npy")
    assert np.isfinite(read_table(write_column(tmp_path / "scaled.csv", "big", big / divisor)).values.astype(np.float32)).all()


def test_values_too_small_for_float32_are_refused(tmp_path):
    tiny = 1e-50 * (1 + 0.1 * np.random.default_rng(0).normal(size=50))  # float32 makes them all 0
    with pytest.raises(UserError, match=r"column 'tiny' cannot be held in float32.*; rescale the column \(e\.g\. tiny \* 1e\d+\)$") as error:
        read_table(write_column(tmp_path / "tiny.csv", "tiny", tiny))
    factor = float(re.search(r"tiny \* (1e\d+)", str(error.value))[1])
    assert 1 <= (tiny * factor).std() < 10
    read_table(write_column(tmp_path / "scaled.csv", "tiny", tiny * factor))


@pytest.mark.parametrize("level,spread", [(1e5, 1e4), (1e-3, 1e-4), (-3e4, 1.0), (0.0, 1e-30), (1e30, 1e26)])
def test_ordinary_columns_pass_the_float32_check(tmp_path, level, spread):
    column = level + spread * np.random.default_rng(0).normal(size=1000)
    table = read_table(write_column(tmp_path / "ok.csv", "c", column))
    np.testing.assert_array_equal(table.values[:, 0], column)


def test_the_float32_threshold_is_max_over_sd_of_2_to_the_23_over_100(tmp_path):
    z = np.random.default_rng(0).normal(size=500)
    z = (z - z.mean()) / z.std()
    for ratio, refused in ((0.98 * 2**23 / 100, False), (1.02 * 2**23 / 100, True)):
        column = (ratio - z.max()) + z  # max|x| / sd = ratio
        assert np.abs(column).max() / column.std() == pytest.approx(ratio)
        np.save(tmp_path / "c.npy", column)
        if refused:
            with pytest.raises(UserError, match="column 'x1' cannot be held in float32"):
                read_table(tmp_path / "c.npy")
        else:
            read_table(tmp_path / "c.npy")


# -- columns of a few values: a density there is point masses ------------------------------------


def test_columns_with_few_distinct_values_are_found_and_named_on_one_line(tmp_path):
    rng = np.random.default_rng(0)
    n = 200
    columns = {
        "height": rng.normal(170, 10, n),
        "smoker": rng.integers(0, 2, n),
        "rating": rng.integers(1, 11, n),  # ten levels: still a few
        "age": rng.integers(18, 80, n),  # dozens of levels: taken as continuous
    }
    lines = [",".join(columns)] + [",".join(str(values[i]) for values in columns.values()) for i in range(n)]
    table = read_table(write_csv(tmp_path / "mixed.csv", "\n".join(lines) + "\n"))
    assert few_valued_columns(table) == {"smoker": 2, "rating": 10}
    note = few_values_warning(table)
    assert "\n" not in note and note.startswith("columns 'smoker' (2 values), 'rating' (10 values) have only a few")
    assert "mixes point masses with a density" in note and "dequantise them" in note and note.endswith("model them apart")
    flag = read_table(write_csv(tmp_path / "flag.csv", "x,flag\n" + "".join(f"{i * 0.37},{i % 2}\n" for i in range(40))))
    assert few_values_warning(flag).startswith("column 'flag' has only 2 distinct values: ")


def test_a_short_file_of_continuous_values_is_not_called_few_valued(tmp_path):
    table = read_table(write_csv(tmp_path / "short.csv", "a\n" + "".join(f"{i * 1.1}\n" for i in range(10))))
    assert few_valued_columns(table) == {} and few_values_warning(table) is None


# -- reading the data of a run already fitted: the checks that protect a new fit only warn -------


def epoch_rows(count):
    """Epoch seconds 1.7e9 + 0..100 (sd about 29): float32 holds them on a grid of 128."""
    return [(1.7e9 + (37 * i) % 101, float(i)) for i in range(count)]


FIT_ONLY_PROBLEMS = [
    ("a,a", [(i, i * i) for i in range(12)], r"header names two columns 'a' \(columns 1 and 2\)"),
    ("a, ,c", [(i, 2 * i, 3 * i) for i in range(12)], r"header has no name for column 2"),
    ("epoch_s,v", epoch_rows(40), r"column 'epoch_s' cannot be held in float32.*subtract an offset"),
]


@pytest.mark.parametrize("header,rows,message", FIT_ONLY_PROBLEMS, ids=["twins", "blank", "epoch"])
def test_a_fitted_runs_data_are_read_as_they_are_with_what_a_new_fit_refuses(tmp_path, header, rows, message):
    path = write_csv(tmp_path / "d.csv", header + "\n" + "".join(",".join(repr(v) for v in row) + "\n" for row in rows))
    with pytest.raises(UserError, match=message) as refused:
        read_table(path)
    table = read_table(path, new_fit=False)
    # The same array a fit before the check was trained on, and the same problem, not raised.
    np.testing.assert_array_equal(table.values, np.array(rows, dtype=np.float64))
    assert table.columns == [name.strip() for name in header.split(",")]
    assert [problem.one_line() for problem in table.fit_refusals] == [refused.value.one_line()]
    assert read_table(write_csv(tmp_path / "ok.csv", "a,b\n" + "".join(f"{i},{i * i}\n" for i in range(12))), new_fit=False).fit_refusals == ()


@pytest.mark.parametrize(
    "content,message",
    [
        ("a,b\n" + "1,2\n" * 10 + "x,2\n", "'x' is not a number"),
        ("a,b\n" + "1,2\n" * 10 + "3,\n", "1 missing value"),
        ("a,b\n" + "1,2\n" * 10 + "nan,2\n", "NaN or infinite"),
        ("big,v\n" + "".join(f"{1e39 * (1 + i / 100)},{i}\n" for i in range(20)), "beyond float32's range"),
        ("a,b\n" + "".join(f"1,{i}\n" for i in range(12)), "constant"),
    ],
    ids=["letters", "missing", "nan", "range", "constant"],
)
def test_data_that_give_no_finite_array_are_refused_for_a_fitted_run_too(tmp_path, content, message):
    with pytest.raises(UserError, match=message):
        read_table(write_csv(tmp_path / "bad.csv", content), new_fit=False)
