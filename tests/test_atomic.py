"""Atomic writes: all or nothing, and the same permissions as an ordinary write."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import pushforward
from pushforward.atomic import atomic_open, temporary_target, write_json


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "file.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_open(target) as stream:
            stream.write("partial")
            raise RuntimeError("crash in the middle")
    assert json.loads(target.read_text()) == {"v": 1}
    assert os.listdir(tmp_path) == ["file.json"]


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_new_file_gets_the_umask_mode_not_the_temporary_files_private_one(tmp_path, umask_022):
    target = tmp_path / "metrics.json"
    write_json(target, {"v": 1})
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    os.umask(0o077)
    private = tmp_path / "private.json"
    write_json(private, {"v": 1})
    assert stat.S_IMODE(private.stat().st_mode) == 0o600


def test_a_replaced_file_keeps_its_own_mode(tmp_path, umask_022):
    target = tmp_path / "samples.csv"
    target.write_text("old")
    target.chmod(0o640)
    with atomic_open(target) as stream:
        stream.write("new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_folder_that_cannot_take_the_file_is_named_in_one_user_error(tmp_path):
    from pushforward.errors import UserError

    (tmp_path / "results.csv").write_text("a file")
    with pytest.raises(UserError, match=r"cannot write '.*results.csv/x.json': '.*results.csv' is a file, not a folder"):
        write_json(tmp_path / "results.csv" / "x.json", {"v": 1})
    assert sorted(os.listdir(tmp_path)) == ["results.csv"]


def test_a_write_killed_outright_leaves_a_temporary_file_that_names_its_target(tmp_path):
    target = tmp_path / "model.safetensors"
    script = (
        "import sys, time\n"
        "from pushforward.atomic import atomic_path\n"
        "with atomic_path(sys.argv[1]) as temporary:\n"
        "    temporary.write_bytes(b'half')\n"
        "    print(temporary, flush=True)\n"
        "    time.sleep(60)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(pushforward.__file__).parents[1])}
    process = subprocess.Popen([sys.executable, "-c", script, str(target)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        left = Path(process.stdout.readline().strip())
    finally:
        process.kill()  # SIGKILL: no finally clause of the writer runs
        process.wait()
        process.stdout.close()
    assert left.parent == tmp_path and left.is_file() and not target.exists()
    assert temporary_target(left) == target
    # Names that only look alike are not the writer's, so nothing would remove them.
    for name in (".model.safetensors.tmp", "model.safetensors.abcdefgh.tmp", ".model.safetensors.abcdefgh.tmp.bak",
                 ".model.safetensors.ABCDEFGH.tmp", ".model.safetensors.abcdefg.tmp", ".model.safetensors.mine.tmp"):
        assert temporary_target(tmp_path / name) is None, name
