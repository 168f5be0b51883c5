import json
import os

import pytest
import torch

from pushforward.errors import UserError
from pushforward.runs import RunDirectory, default_run_path


def test_create_refuses_an_existing_nonempty_directory(tmp_path):
    target = tmp_path / "run"
    target.mkdir()
    (target / "keep.txt").write_text("precious")
    with pytest.raises(UserError, match="already exists.*--resume.*--force"):
        RunDirectory.create(target)
    assert (target / "keep.txt").read_text() == "precious"


def test_open_names_missing_or_foreign_directories(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        RunDirectory.open(tmp_path / "nope")
    with pytest.raises(UserError, match="not a run directory"):
        RunDirectory.open(tmp_path)


def test_default_run_path_never_reuses_a_directory(tmp_path):
    first = default_run_path("checkerboard", "nsf", root=tmp_path)
    first.mkdir()
    second = default_run_path("checkerboard", "nsf", root=tmp_path)
    assert second.name == "checkerboard-nsf-2"


def test_weights_and_checkpoint_round_trip_without_pickle(tmp_path):
    run = RunDirectory.create(tmp_path / "run")
    state = {"a": torch.randn(3, 4), "b": torch.arange(5), "view": torch.randn(4, 4).t()}
    run.save_weights(state)
    loaded = run.load_weights()
    for key, value in state.items():
        torch.testing.assert_close(loaded[key], value)
    run.save_checkpoint({"w": torch.ones(2)}, {"step": 7, "best_score": float("inf")})
    tensors, meta = run.load_checkpoint()
    assert meta == {"step": 7, "best_score": None}
    # The files are safetensors: an 8-byte little-endian header length, then JSON.
    raw = (tmp_path / "run" / "model.safetensors").read_bytes()
    header = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])
    assert set(header) >= {"a", "b", "view"}


def test_damaged_files_are_user_errors(tmp_path):
    run = RunDirectory.create(tmp_path / "run")
    (tmp_path / "run" / "config.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        run.read_config()
    (tmp_path / "run" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(UserError, match="damaged; fit the run again"):
        run.load_weights()


def test_a_damaged_checkpoint_beside_good_weights_says_the_model_is_intact(tmp_path):
    run = RunDirectory.create(tmp_path / "run")
    run.save_weights({"w": torch.ones(3)})
    (tmp_path / "run" / "checkpoint.safetensors").write_bytes(b"garbage")
    with pytest.raises(UserError) as caught:
        run.load_weights("checkpoint.safetensors")
    assert "model.safetensors) is intact" in caught.value.fix and "fit a new run" in caught.value.fix
    assert torch.equal(run.load_weights()["w"], torch.ones(3))


def test_history_and_metrics(tmp_path):
    run = RunDirectory.create(tmp_path / "run")
    run.write_history([{"step": 1, "loss": 2.5}, {"step": 2, "loss": 2.0, "val_nll": 1.5}])
    rows = run.read_history()
    assert rows[1] == {"step": 2.0, "loss": 2.0, "val_nll": 1.5}
    run.update_metrics("training", {"best": float("nan")})
    run.update_metrics("evaluation", {"nll": 1.0})
    assert run.read_metrics() == {"training": {"best": None}, "evaluation": {"nll": 1.0}}


def test_force_replaces_only_the_old_runs_own_files(tmp_path):
    old = RunDirectory.create(tmp_path / "run")
    old.update_metrics("evaluation", {"test_nll": 1.0})
    old.write_config({"model": "old"})
    (tmp_path / "run" / "notes.txt").write_text("mine")
    old.unlock()  # its fit has ended
    new = RunDirectory.create(tmp_path / "run", force=True)
    assert new.read_metrics() == {}
    assert not (tmp_path / "run" / "config.json").exists()
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"


def test_force_removes_the_temporary_files_of_the_runs_writes_killed_outright_and_nothing_else(tmp_path):
    folder = tmp_path / "run"
    old = RunDirectory.create(folder)
    old.write_config({"model": "old"})
    (folder / "figures").mkdir()
    # As atomic writes of the run's own files leave them when their process is SIGKILLed.
    leftovers = [folder / ".checkpoint.safetensors.k2x_9abc.tmp", folder / ".metrics.json.abcdefgh.tmp",
                 folder / ".config.json.0a1b2c3d.tmp", folder / "figures" / ".density.png.q1w2e3r4.tmp"]
    # The user's files, however alike: another file's temporary, other names, another folder.
    others = [folder / ".notes.txt.abcdefgh.tmp", folder / ".checkpoint.safetensors.mine.tmp",
              folder / "checkpoint.safetensors.abcdefgh.tmp", folder / ".model.safetensors.abcdefgh.tmp.bak",
              folder / "figures" / ".table.csv.abcdefgh.tmp", tmp_path / ".config.json.abcdefgh.tmp"]
    for path in leftovers + others:
        path.write_bytes(b"half")
    # While the run is being fitted, --force is refused and nothing is removed.
    with pytest.raises(UserError, match="is being fitted by another pushforward"):
        RunDirectory.create(folder, force=True)
    assert all(path.exists() for path in leftovers)
    old.unlock()  # its fit has ended
    RunDirectory.create(folder, force=True)
    assert [path for path in leftovers if path.exists()] == []
    assert all(path.read_bytes() == b"half" for path in others)


@pytest.mark.parametrize("row", ["abc,def", "1,2,3", "1"])
def test_a_damaged_history_row_is_a_user_error_naming_the_file_and_line(tmp_path, row):
    run = RunDirectory.create(tmp_path / "run")
    run.write_history([{"step": 1, "loss": 2.5}, {"step": 2, "loss": 2.0}])
    with open(tmp_path / "run" / "history.csv", "a", encoding="utf-8") as stream:
        stream.write(row + "\n")
    with pytest.raises(UserError, match=r"history\.csv' is damaged on line 4 .*delete history\.csv"):
        run.read_history()


def test_a_run_being_fitted_is_locked_against_a_second_process(tmp_path):
    import subprocess
    import sys

    first = RunDirectory.create(tmp_path / "run")
    first.write_config({"model": "nsf"})
    # --force (or --resume) into the run while it is fitted: refused, and nothing cleared.
    with pytest.raises(UserError, match="is being fitted by another pushforward"):
        RunDirectory.create(tmp_path / "run", force=True)
    with pytest.raises(UserError, match="is being fitted by another pushforward"):
        RunDirectory.open(tmp_path / "run").lock()
    assert (tmp_path / "run" / "config.json").is_file()
    first.unlock()
    assert not (tmp_path / "run" / ".pushforward.lock").exists()
    # A lock whose process has ended (killed) is taken over.
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket

    (tmp_path / "run" / ".pushforward.lock").write_text(f"{ended.stdout.strip()} {socket.gethostname()}\n")
    again = RunDirectory.open(tmp_path / "run")
    again.lock()
    again.unlock()
    assert not (tmp_path / "run" / ".pushforward.lock").exists()


def test_locked_holds_the_run_for_a_block_and_nests_in_this_process(tmp_path):
    folder = tmp_path / "run"
    run = RunDirectory.create(folder)
    run.write_config({"model": "nsf"})
    run.unlock()
    with pytest.raises(RuntimeError):
        with RunDirectory.open(folder).locked("evaluated"):
            assert (folder / ".pushforward.lock").read_text().split()[2] == "evaluated"
            # Inside it, this process writes the run freely (another object of the same run
            # included: a command holds the run, and the API it calls locks again) ...
            with RunDirectory.open(folder).locked("plotted"):
                pass
            assert (folder / ".pushforward.lock").is_file()
            raise RuntimeError("the evaluation failed")
    # ... and however the block ends, the lock is gone with it.
    assert not (folder / ".pushforward.lock").exists()
    # A strict lock() is still refused while another object holds the run, as a second process's.
    with RunDirectory.open(folder).locked("plotted"):
        with pytest.raises(UserError, match="is being plotted by another pushforward"):
            RunDirectory.open(folder).lock()


def test_a_run_under_a_file_or_an_unwritable_folder_is_refused_before_anything_happens(tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UserError, match=r"^cannot make '.*afile/run': '.*afile' is a file, not a folder; choose another --out$"):
        RunDirectory.check_new(tmp_path / "afile" / "run")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "locked").mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p).endswith("locked") else real_access(p, mode))
    with pytest.raises(UserError, match=r"^cannot make 'locked/deep/run': folder 'locked' is not writable"):
        RunDirectory.check_new("locked/deep/run")
    RunDirectory.check_new("other/run")  # a folder still to be made under a writable one


def test_weights_not_yet_saved_by_a_fit_in_progress_say_to_wait(tmp_path):
    import socket
    import subprocess
    import sys

    run = RunDirectory.create(tmp_path / "run")
    run.write_config({"model": "nsf"})
    run.unlock()
    # Another live process fitting it, before its first validation has saved weights.
    fitter = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "run" / ".pushforward.lock").write_text(f"{fitter.pid} {socket.gethostname()} fitted\n")
        with pytest.raises(UserError, match=f"no model.safetensors yet: another pushforward \\(process {fitter.pid}\\) is fitting it") as caught:
            RunDirectory.open(tmp_path / "run").load_weights()
        assert caught.value.fix == "wait a few seconds and try again"
    finally:
        fitter.kill()
        fitter.wait()
    # Once that process is gone, the run is one that did not finish saving.
    with pytest.raises(UserError, match="did not finish saving"):
        RunDirectory.open(tmp_path / "run").load_weights()
