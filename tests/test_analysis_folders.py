"""The `--out` folders of `calibrate`, `validate-model` and `sensitivity` follow every rule of an output folder
(`sim.experiments.folders.OutputFolder`), as those of `compare` and `sweep` do: one writer at a time (a second
clubsim is
refused at once, in one line naming the holder), every file written whole under a temporary name, and a
manifest that lists each file with its size and SHA-256.

Reproduces a failure of the code before the fix: these three commands took no lock (two of them could
write the same folder at once) and wrote their files in place.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sim.experiments.folders import LOCK_FILE, TEMP_PREFIX, OutputFolder, verify_files
from sim.interfaces.cli import app

ROOT = Path(__file__).resolve().parent.parent
BNI = ROOT / "scenarios" / "bni_chapter.yaml"
PLAIN_ENV: dict[str, str | None] = {"FORCE_COLOR": None, "TTY_COMPATIBLE": None}

runner = CliRunner()


@pytest.fixture(autouse=True)
def _kernels(numba_ready: None) -> None:
    """The commands here run the numba engine: load (or compile) its kernels once."""


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def calibrate_args(folder: Path) -> tuple[list[object], list[str]]:
    scenario = _write(folder / "short.yaml", {"extends": str(BNI), "name": "short", "years": 1})
    targets = _write(folder / "targets.yaml", {
        "name": "tiny", "runs": 2, "check_runs": 2, "seed": 5,
        "targets": [{"metric": "business_per_member_year", "value": 30000, "tolerance": "25%",
                     "source": "a figure made up for the test"}],
        "parameters": {"market.deal_value_median": {"low": 500, "high": 4000}},
        "optimiser": {"method": "nelder_mead", "max_evaluations": 3},
    })
    return ["calibrate", scenario, "--targets", targets], ["short_calibrated.yaml", "fit.csv", "evaluations.csv"]


def validate_model_args(_folder: Path) -> tuple[list[object], list[str]]:
    return (["validate-model", BNI, "--fact", "interview_accuracy_keeps_hunters_out", "--runs", 2, "--set",
             "years=1"], ["facts.csv"])


def sensitivity_args(folder: Path) -> tuple[list[object], list[str]]:
    experiment = _write(folder / "sens.yaml", {
        "name": "tiny", "scenario": str(BNI), "overrides": {"years": 1},
        "parameters": {"market.deal_value_median": {"low": 500, "high": 4000},
                       "club.capacity": {"low": 15, "high": 40}},
        "metrics": ["business_per_member_year"], "runs": 1, "seed": 3,
        "morris": {"trajectories": 2, "levels": 4},
    })
    return ["sensitivity", experiment, "--method", "morris"], ["samples.csv", "indices.csv", "sensitivity_morris.png"]


COMMANDS = {"calibrate": calibrate_args, "validate-model": validate_model_args, "sensitivity": sensitivity_args}


def clubsim(args: list[object], out: Path):
    return runner.invoke(app, [*map(str, args), "--out", str(out), "--workers", "1", "-q"], env=PLAIN_ENV)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_second_clubsim_on_the_folder_is_refused_in_one_line_naming_the_holder(tmp_path, command):
    args, _ = COMMANDS[command](tmp_path)
    out = tmp_path / "out"
    with OutputFolder(out):  # another clubsim writes there (this process: flock is per open file)
        result = clubsim(args, out)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"clubsim: error: {out}: --out: in use by another clubsim (pid {os.getpid()} on "), lines
    assert lines[0].endswith("wait for it to end, or choose another folder"), lines
    assert list(out.iterdir()) == []  # nothing written (the holder's lock file went with it)


@pytest.mark.parametrize("command", COMMANDS)
def test_the_manifest_lists_every_file_with_its_sha256(tmp_path, command):
    args, names = COMMANDS[command](tmp_path)
    out = tmp_path / "out"
    for _ in range(2):  # a new run replaces the folder's files (they are clubsim's)
        result = clubsim(args, out)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["status"] == "complete"
        assert manifest["files"] == sorted([*names, "manifest.json"])
        for name in names:
            data = (out / name).read_bytes()
            assert manifest["checksums"][name] == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        verify_files(out, manifest)
        left = sorted(p.name for p in out.iterdir() if p.name == LOCK_FILE or p.name.startswith(TEMP_PREFIX))
        assert left == [], "the lock is released and no temporary file is left"


def test_a_file_clubsim_did_not_write_is_not_overwritten(tmp_path):
    args, _ = validate_model_args(tmp_path)
    out = tmp_path / "out"
    assert clubsim(args, out).exit_code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"] = ["manifest.json"]  # facts.csv is no longer clubsim's
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "facts.csv").write_text("my own notes\n")
    result = clubsim(args, out)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr.splitlines() == [
        f"clubsim: error: {out / 'facts.csv'}: exists and clubsim did not write it (not in manifest.json); clubsim "
        "does not overwrite it: move it away or choose another folder"]
    assert (out / "facts.csv").read_text() == "my own notes\n"
