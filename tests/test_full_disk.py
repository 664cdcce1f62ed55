"""A results folder on a full disk: one line naming the path and errno, a folder that is complete or refused, and the cache kept.

The output folder is a small tmpfs, filled to several levels before the run. Where the test may not mount
one, each file the run writes is capped with RLIMIT_FSIZE instead (the same errors, EFBIG for ENOSPC).
"""

from __future__ import annotations

import contextlib
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rm_mlflow.errors import RmMlflowError
from rm_mlflow.results import MANIFEST_FILE, check_complete
from tests.helpers import REPO_ROOT, SAMPLE_DATA

TMPFS_BYTES = 1 << 20
# free bytes left on the disk -> where the run must stop (the score cache takes ~8 KiB, results.json ~20 KiB, the parquet ~10 KiB)
FILL_LEVELS = (0, 4 << 10, 12 << 10, 28 << 10, 40 << 10)
FILE_CAPS = (1, 4 << 10, 12 << 10)  # without a mount: each file capped below the cache (~8 KiB) or results.json (~20 KiB)


@contextlib.contextmanager
def small_disk(folder: Path):
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(folder)], capture_output=True).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)


def _evaluate(model: Path, out: Path, file_limit: int | None = None) -> subprocess.CompletedProcess:
    def cap_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the cap fails with EFBIG instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    command = [sys.executable, "-m", "rm_mlflow.cli", "evaluate", "--model", str(model), "--data-dir", str(SAMPLE_DATA),
               "--output", str(out), "--quiet", "--bootstrap", "0"]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
                          preexec_fn=cap_files if file_limit is not None else None)


def _fill(disk: Path, free: int) -> Path:
    filler = disk / "filler.bin"
    usage = shutil.disk_usage(disk)
    filler.write_bytes(b"\0" * max(0, usage.free - free))
    return filler


def test_a_full_disk_at_every_fill_level_is_one_line_and_an_incomplete_folder_is_refused(tiny_llama, tmp_path):
    outcomes = []
    with small_disk(tmp_path / "disk") as mounted:
        for free in FILL_LEVELS if mounted else FILE_CAPS:
            level = tmp_path / "disk" / f"free-{free}"
            if mounted:
                filler = _fill(tmp_path / "disk", free)
                run = _evaluate(tiny_llama, level)
                filler.unlink()
            else:
                run = _evaluate(tiny_llama, level, file_limit=free)
            lines = run.stderr.strip().splitlines()
            contents = sorted(p.name for p in level.iterdir()) if level.is_dir() else []
            outcomes.append((free, run.returncode, lines[-1] if lines else "", contents))

            assert "Traceback" not in run.stderr, run.stderr
            assert run.returncode == 1, run.stderr
            error = lines[-1]
            assert error.startswith("rm-mlflow: error: ") and ("errno ENOSPC" in error or "errno EFBIG" in error), error
            assert error.startswith(f"rm-mlflow: error: {level}")  # the folder or the file in it that could not be written
            assert MANIFEST_FILE not in contents  # never a folder that looks finished
            with pytest.raises(RmMlflowError, match="incomplete results folder"):
                check_complete(level)
            # `rm-mlflow log` refuses it before asking MLflow anything (the tracking URI answers nothing)
            logged = subprocess.run([sys.executable, "-m", "rm_mlflow.cli", "log", str(level), "--run_id", "0" * 32,
                                     "--tracking_uri", "http://127.0.0.1:9"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
            assert logged.returncode == 2 and "Traceback" not in logged.stderr
            refusal = logged.stderr.strip().splitlines()[-1]
            assert refusal.startswith(f"rm-mlflow: error: {level}") and ("incomplete results folder" in refusal or "no such results file" in refusal)

        # with space again, the same command resumes from what the cache kept and completes the folder
        resumed_level = tmp_path / "disk" / f"free-{max(FILL_LEVELS if mounted else FILE_CAPS)}"
        resumed = _evaluate(tiny_llama, resumed_level)
        for free, code, line, contents in outcomes:
            print(f"free {free:>6} B: exit {code}: {line}\n    folder: {', '.join(contents) or '(none)'}")
        assert resumed.returncode == 0, resumed.stderr
        assert "resumed (50 from cache)" in resumed.stdout, resumed.stdout
        check_complete(resumed_level)
