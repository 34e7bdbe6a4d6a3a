"""Data loss and silent corruption (issue 17): what clubsim may delete, the folder lock, atomic
outputs with checksums, resume's trust in its parts and inputs, errors that pickle, usage errors.

Each test reproduces a failure of the code before the fix: a user's file deleted, a folder
escaping results/, two writers mixing files, a cut write read as valid, a changed part or market
CSV resumed, an error that breaks a process pool, a usage box instead of one line.
"""

from __future__ import annotations

import importlib
import json
import multiprocessing
import os
import pickle
import pkgutil
import resource
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import sim
from sim import compare
from sim.errors import InputError
from sim.experiments.experiment import ExperimentInterrupted, load_experiment
from sim.interfaces.cli import app

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
BNI = SCENARIOS / "bni_chapter.yaml"
BNI_OPEN = SCENARIOS / "bni_open.yaml"
PRICING = ROOT / "experiments" / "pricing.yaml"
CLUBSIM = [sys.executable, "-m", "sim"]
MANIFEST, PARTS, LOCK_FILE = "manifest.json", "parts", ".clubsim.lock"  # as sim.experiments.folders names them
SHORT = ["--set", "years=1"]

runner = CliRunner()


@pytest.fixture(autouse=True)
def _kernels(numba_ready: None) -> None:
    """The runs here use the numba engine: load (or compile) its kernels once."""


def clubsim(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def ok(*args: object):
    result = clubsim(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def one_error_line(result, *contains: str) -> str:
    """The command failed with exit 2 and one stderr line `clubsim: error: ...` holding every `contains`."""
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("clubsim: error: "), lines[0]
    for text in contains:
        assert text in lines[0], (text, lines[0])
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (links not followed) with its bytes."""
    return {str(p.relative_to(folder)): (b"->" + os.readlink(p).encode()) if p.is_symlink() else p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_symlink() or p.is_file()}


def foreign_folder(folder: Path, names: list[str]) -> dict[str, bytes]:
    """A folder of the user's own files (a parts/ folder too), none written by clubsim."""
    (folder / PARTS).mkdir(parents=True)
    (folder / PARTS / "thesis.txt").write_text("years of work\n")
    for name in names:
        (folder / name).write_bytes(f"the user's {name}\n".encode())
    return snapshot(folder)


EXPERIMENT = """
name: tiny
scenario: {scenario}
overrides: {{years: 1}}
policies:
  a: {{}}
  b: {{club.composition.policy: open}}
metrics: [business_per_member_year, members_final]
runs: 4
seed: 5
"""


def write_experiment(folder: Path, scenario: Path = BNI, name: str = "exp.yaml", text: str = EXPERIMENT) -> Path:
    path = folder / name
    path.write_text(text.format(scenario=scenario), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- 1. what clubsim may delete


@pytest.mark.parametrize("through_a_link", [False, True], ids=["folder", "symlink"])
def test_compare_refuses_a_folder_of_someone_elses_files_and_deletes_nothing(tmp_path, through_a_link):
    user = tmp_path / "mine"
    before = foreign_folder(user, ["metrics.png", "trajectories.png", "survival.png", "roi_by_type.png"])
    out = user
    if through_a_link:
        out = tmp_path / "link"
        out.symlink_to(user, target_is_directory=True)
    result = clubsim("compare", BNI, BNI_OPEN, "--runs", 2, *SHORT, "--workers", 1, "--out", out)
    one_error_line(result, str(out), "--out", "holds no manifest.json of clubsim")
    assert snapshot(user) == before


@pytest.mark.parametrize("again", ["new", "resume"])
def test_files_an_interrupted_experiment_only_planned_are_the_users(tmp_path, again):
    """An interrupted compare's manifest lists the files it would write; a file of that name that appears
    later is the user's: it was overwritten (comparison.csv) or deleted (metrics.png), with exit 0."""
    experiment = load_experiment(write_experiment(tmp_path))
    out = tmp_path / "cut"
    with pytest.raises(ExperimentInterrupted):
        compare(experiment, workers=1, out=out, figures=False, stop_after=2)
    listed = json.loads((out / "manifest.json").read_text())["files"]
    assert "comparison.csv" in listed and not (out / "comparison.csv").exists()
    (out / "comparison.csv").write_text("my notes\n")
    where = ["--resume", out] if again == "resume" else ["--out", out]
    one_error_line(clubsim("compare", write_experiment(tmp_path), *where, "--workers", 1, "--no-figures"),
                   f"{out / 'comparison.csv'}",
                   "is not the file clubsim wrote here")
    assert (out / "comparison.csv").read_text() == "my notes\n"


def test_a_file_changed_since_clubsim_wrote_it_is_neither_replaced_nor_removed(tmp_path):
    out = tmp_path / "run"
    ok("run", BNI, *SHORT, "--no-figures", "--out", out, "-q")
    (out / "members.csv").write_text("my edited table\n")  # listed in the manifest, but no longer clubsim's
    one_error_line(clubsim("run", BNI, *SHORT, "--seed", 2, "--no-figures", "--out", out), "members.csv",
                   "is not the file clubsim wrote here")
    assert (out / "members.csv").read_text() == "my edited table\n"
    # a compare into the folder would remove the run's files: it leaves the changed one, and unlists it
    ok("compare", BNI, BNI_OPEN, "--runs", 2, *SHORT, "--workers", 1, "--no-figures", "--out", out, "-q")
    assert (out / "members.csv").read_text() == "my edited table\n" and not (out / "summary.json").exists()
    assert "members.csv" not in json.loads((out / "manifest.json").read_text())["files"]


def test_a_copied_manifest_does_not_make_the_users_files_clubsims(tmp_path):
    ran = tmp_path / "run"
    ok("run", BNI, *SHORT, "--no-figures", "--out", ran, "-q")
    paper = tmp_path / "paper"
    paper.mkdir()
    (paper / "manifest.json").write_bytes((ran / "manifest.json").read_bytes())
    (paper / "members.csv").write_text("mine\n")
    one_error_line(clubsim("run", BNI, *SHORT, "--no-figures", "--out", paper), "members.csv",
                   "is not the file clubsim wrote here")
    assert (paper / "members.csv").read_text() == "mine\n"


def test_sweep_refuses_a_folder_of_someone_elses_files_and_deletes_nothing(tmp_path):
    user = tmp_path / "mine"
    before = foreign_folder(user, ["sweep_fee_income_total.png", "replications.parquet"])
    one_error_line(clubsim("sweep", PRICING, "--runs", 1, *SHORT, "--workers", 1, "--out", user), "--out")
    assert snapshot(user) == before


def test_run_without_figures_refuses_a_folder_of_someone_elses_files(tmp_path):
    user = tmp_path / "mine"
    before = foreign_folder(user, ["clubs.csv", "members.png", "business.png"])
    one_error_line(clubsim("run", BNI, *SHORT, "--no-figures", "--out", user), "--out", "not empty")
    assert snapshot(user) == before


def test_a_rerun_removes_only_files_its_manifest_lists(tmp_path):
    out = tmp_path / "run"
    ok("run", BNI, *SHORT, "--out", out, "-q")
    (out / "clubs.csv").write_text("the user's own clubs\n")  # a name clubsim writes, but not here
    (out / "notes.txt").write_text("the user's notes\n")
    manifest = json.loads((out / MANIFEST).read_text())
    victim = tmp_path / "victim.txt"
    victim.write_text("outside the folder\n")
    manifest["files"].append("../victim.txt")  # a manifest is never followed out of its folder
    (out / MANIFEST).write_text(json.dumps(manifest))

    ok("run", BNI, *SHORT, "--no-figures", "--out", out, "-q")
    assert not list(out.glob("*.png"))  # the earlier run's figures were clubsim's: gone
    assert (out / "clubs.csv").read_text() == "the user's own clubs\n"
    assert (out / "notes.txt").read_text() == "the user's notes\n"
    assert victim.read_text() == "outside the folder\n"


def test_a_region_run_does_not_overwrite_a_file_clubsim_did_not_write(tmp_path):
    out = tmp_path / "run"
    ok("run", BNI, *SHORT, "--no-figures", "--out", out, "-q")
    (out / "clubs.csv").write_text("the user's own clubs\n")
    one_error_line(clubsim("run", BNI, *SHORT, "--set", "region.clubs=2", "--no-figures", "--out", out),
                   "clubs.csv", "clubsim did not write it")
    assert (out / "clubs.csv").read_text() == "the user's own clubs\n"


def test_an_experiment_keeps_what_the_user_put_in_its_parts_folder(tmp_path):
    experiment = load_experiment(write_experiment(tmp_path))
    out = tmp_path / "out"
    with pytest.raises(ExperimentInterrupted):
        compare(experiment, workers=1, out=out, figures=False, stop_after=3)
    (out / PARTS / "keep.txt").write_text("mine\n")
    compare(experiment, workers=1, out=out, figures=False, resume=True)
    assert (out / PARTS / "keep.txt").read_text() == "mine\n"
    assert [p.name for p in (out / PARTS).iterdir()] == ["keep.txt"]  # clubsim's own parts are gone
    compare(experiment, workers=1, out=out, figures=False)  # a new run over it: the user's file stays
    assert (out / PARTS / "keep.txt").read_text() == "mine\n"


# --------------------------------------------------------------------------- 2. names that escape results/


def test_an_experiment_name_with_a_path_is_refused(tmp_path, monkeypatch):
    work = tmp_path / "work" / "deep"
    work.mkdir(parents=True)
    victim = tmp_path / "victim"
    before = foreign_folder(victim, [])
    path = write_experiment(tmp_path, text=EXPERIMENT.replace("name: tiny", "name: ../../victim"))
    monkeypatch.chdir(work)
    one_error_line(clubsim("compare", path, "--runs", 1, "--workers", 1), str(path), "name", "plain file name")
    assert snapshot(victim) == before
    assert not (work / "results").exists()
    with pytest.raises(InputError, match="name: '../../victim' cannot name an output folder"):
        load_experiment(path)


def test_a_scenario_name_set_to_a_path_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    one_error_line(clubsim("run", BNI, *SHORT, "--set", "name=../../x"), "--set: name:", "plain file name")
    assert not (tmp_path / "runs").exists()


# --------------------------------------------------------------------------- 3. one writer at a time

# another clubsim holding the folder, as sim.experiments.folders.FolderLock holds it: flock, and who holds it
HOLD_LOCK = """
import fcntl, json, os, socket, sys, time
fd = os.open(os.path.join(sys.argv[1], ".clubsim.lock"), os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": "now",
                         "command": "clubsim run"}).encode())
print("held", flush=True)
time.sleep(120)
"""


def test_a_second_writer_is_refused_naming_the_holder_and_a_dead_holders_lock_is_taken_over(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        line = one_error_line(clubsim("run", BNI, *SHORT, "--out", out), "--out", "in use by another clubsim",
                              f"pid {holder.pid}")
        assert "Traceback" not in line
        assert not (out / MANIFEST).exists()
    finally:
        holder.kill()
        holder.wait()
    assert (out / LOCK_FILE).exists()  # left by the killed holder: stale, taken over
    ok("run", BNI, *SHORT, "--out", out, "-q")
    assert not (out / LOCK_FILE).exists()


def test_the_lock_holds_in_this_process_too_and_is_released(tmp_path):
    from sim.experiments.folders import FolderLock

    out = tmp_path / "out"
    lock = FolderLock(out)
    out.mkdir()
    lock.acquire()
    try:
        one_error_line(clubsim("compare", BNI, "--runs", 1, *SHORT, "--workers", 1, "--out", out), "in use")
        one_error_line(clubsim("report", out), "in use")
    finally:
        lock.release()
    ok("compare", BNI, "--runs", 1, *SHORT, "--workers", 1, "--no-figures", "--out", out, "-q")


# --------------------------------------------------------------------------- 4. atomic outputs, checksums


def _limited(max_bytes: int):
    def limit() -> None:  # Python ignores SIGXFSZ: a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return limit


def clubsim_process(*args: object, max_file_bytes: int | None = None, cwd: Path | None = None):
    return subprocess.run([*CLUBSIM, *map(str, args)], capture_output=True, text=True, timeout=600, cwd=cwd,
                          preexec_fn=_limited(max_file_bytes) if max_file_bytes else None)


def test_a_run_cut_by_a_full_disk_is_one_line_and_its_folder_is_never_read_as_valid(tmp_path):
    out = tmp_path / "run"
    ok("run", BNI, *SHORT, "--no-figures", "--out", out, "-q")
    sizes = {p.name: p.stat().st_size for p in out.iterdir()}
    assert sizes["summary.json"] < sizes[MANIFEST] < sizes["timeseries.csv"] * 3  # what the limit cuts
    cut = clubsim_process("run", BNI, "--set", "years=3", "--no-figures", "--out", out,
                          max_file_bytes=sizes[MANIFEST] + 512)
    assert cut.returncode in (1, 2), cut.stderr
    lines = cut.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("clubsim: error: ") and str(out) in lines[0], lines
    assert "cannot write" in lines[0] and "Traceback" not in cut.stderr
    assert not [p for p in out.iterdir() if p.name.startswith(".clubsim")]  # no temporary file left

    one_error_line(clubsim("report", out), str(out))
    assert not (out / "report.html").exists()


def test_a_compare_cut_by_a_full_disk_is_one_line_naming_the_part_and_resumes(tmp_path, monkeypatch):
    import sim.experiments.experiment

    path = write_experiment(tmp_path)
    out = tmp_path / "out"
    real = sim.experiments.experiment.write_bytes
    written: list[Path] = []

    def no_space(target: Path, data: bytes) -> Path:
        if written:
            raise sim.experiments.experiment.OutputError(target, None, "cannot write: no space left on device")
        written.append(target)
        return real(target, data)

    monkeypatch.setattr(sim.experiments.experiment, "PART_ROWS", 2)
    monkeypatch.setattr(sim.experiments.experiment, "write_bytes", no_space)
    line = one_error_line(clubsim("compare", path, "--workers", 1, "--no-figures", "--out", out),
                          "cannot write: no space left on device", f"{out / PARTS}/part-00001-")
    assert "Traceback" not in line
    assert json.loads((out / MANIFEST).read_text())["status"] == "failed"
    monkeypatch.setattr(sim.experiments.experiment, "write_bytes", real)
    whole = tmp_path / "whole"
    ok("compare", path, "--workers", 1, "--no-figures", "--out", whole, "-q")
    ok("compare", path, "--workers", 1, "--no-figures", "--resume", out, "-q")
    assert (out / "replications.parquet").read_bytes() == (whole / "replications.parquet").read_bytes()


def test_report_refuses_a_file_that_no_longer_matches_the_manifest(tmp_path):
    out = tmp_path / "run"
    ok("run", BNI, *SHORT, "--no-figures", "--out", out, "-q")
    data = bytearray((out / "members.csv").read_bytes())
    data[-2] ^= 0x01  # one digit of the last row
    (out / "members.csv").write_bytes(bytes(data))
    one_error_line(clubsim("report", out), f"{out / 'members.csv'}: does not match manifest.json")


def test_report_cut_by_a_full_disk_keeps_the_good_page(tmp_path):
    out = tmp_path / "run"
    ok("run", BNI, *SHORT, "--out", out, "-q")
    ok("report", out)
    ok("run", BNI, *SHORT, "--seed", 2, "--out", out, "-q")
    assert not (out / "report.html").exists()  # it described the earlier run: listed in its manifest, removed
    ok("report", out)
    page = (out / "report.html").read_bytes()
    cut = clubsim_process("report", out, max_file_bytes=len(page) // 3)
    assert cut.returncode == 2 and len(cut.stderr.splitlines()) == 1, cut.stderr
    assert "report.html" in cut.stderr and "Traceback" not in cut.stderr
    assert (out / "report.html").read_bytes() == page


def test_report_never_overwrites_a_page_clubsim_did_not_write(tmp_path):
    out = tmp_path / "run"
    ok("run", BNI, *SHORT, "--no-figures", "--out", out, "-q")
    mine = tmp_path / "mine.html"
    mine.write_text("<html>my page</html>")
    one_error_line(clubsim("report", out, "--out", mine), "is not a report clubsim wrote")
    assert mine.read_text() == "<html>my page</html>"


def test_resume_refuses_a_finished_folder_whose_replications_changed(tmp_path):
    experiment = load_experiment(write_experiment(tmp_path))
    out = tmp_path / "out"
    compare(experiment, workers=1, out=out, figures=False)
    table = pq.read_table(out / "replications.parquet")
    pq.write_table(table.slice(1), out / "replications.parquet")
    with pytest.raises(InputError, match="replications.parquet: does not match manifest.json"):
        compare(experiment, 6, workers=1, out=out, figures=False, resume=True)


def test_every_file_of_a_folder_is_listed_with_its_size_and_sha256(tmp_path):
    out = tmp_path / "out"
    ok("compare", write_experiment(tmp_path), "--runs", 2, "--workers", 1, "--out", out, "-q")
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["status"] == "complete"
    listed = set(manifest["files"]) - {MANIFEST}
    assert listed == set(manifest["checksums"]) == {p.name for p in out.iterdir()} - {MANIFEST}
    for name, recorded in manifest["checksums"].items():
        assert recorded["bytes"] == (out / name).stat().st_size


# --------------------------------------------------------------------------- 5. resume trusts nothing blindly


def _flip_one_byte_keeping_it_parquet(data: bytes) -> bytes:
    """The first single-byte flip after which the file still reads as Parquet, with other values."""
    original = pq.read_table(pa.BufferReader(data))
    for position in range(4, len(data) - 8):
        flipped = bytearray(data)
        flipped[position] ^= 0x40
        try:
            table = pq.read_table(pa.BufferReader(bytes(flipped)))
        except (OSError, pa.ArrowException, ValueError):
            continue
        if table.schema == original.schema and not table.equals(original):
            return bytes(flipped)
    raise AssertionError("no readable one-byte flip found")


def test_resume_reruns_a_part_whose_bytes_changed_instead_of_reading_it(tmp_path):
    experiment = load_experiment(write_experiment(tmp_path))
    whole = tmp_path / "whole"
    compare(experiment, workers=1, out=whole, figures=False)
    cut = tmp_path / "cut"
    with pytest.raises(ExperimentInterrupted):
        compare(experiment, workers=1, out=cut, figures=False, stop_after=5)
    [part] = list((cut / PARTS).iterdir())
    part.write_bytes(_flip_one_byte_keeping_it_parquet(part.read_bytes()))

    resumed = compare(experiment, workers=1, out=cut, figures=False, resume=True)
    assert (cut / "replications.parquet").read_bytes() == (whole / "replications.parquet").read_bytes()
    assert (cut / "comparison.csv").read_bytes() == (whole / "comparison.csv").read_bytes()
    assert resumed.rejected_parts == [part.name]


def test_resume_notes_a_rerun_part_on_the_command_line(tmp_path):
    path = write_experiment(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(ExperimentInterrupted):
        compare(load_experiment(path), workers=1, out=out, figures=False, stop_after=2)
    [part] = list((out / PARTS).iterdir())
    part.write_bytes(part.read_bytes()[:-1] + b"\0")
    result = ok("compare", path, "--workers", 1, "--no-figures", "--resume", out, "-q")
    assert result.stderr.splitlines() == [f"clubsim: note: {part}: its bytes do not match the SHA-256 in its name; "
                                          "its replications were run again"]


def test_resume_reruns_parts_copied_from_another_experiments_folder(tmp_path):
    """A part is another experiment's (here: another seed's) although its bytes match its name: resume
    must not mix its replications in."""
    path = write_experiment(tmp_path)
    experiment = load_experiment(path)
    other = tmp_path / "other"
    with pytest.raises(ExperimentInterrupted):
        compare(experiment, workers=1, out=other, figures=False, stop_after=5, seed=999)
    cut = tmp_path / "cut"
    with pytest.raises(ExperimentInterrupted):
        compare(experiment, workers=1, out=cut, figures=False, stop_after=1)
    [own] = list((cut / PARTS).iterdir())
    own.unlink()
    [foreign] = list((other / PARTS).iterdir())
    (cut / PARTS / foreign.name).write_bytes(foreign.read_bytes())

    whole = compare(experiment, workers=1, out=tmp_path / "whole", figures=False)
    result = clubsim("compare", path, "--workers", 1, "--no-figures", "--resume", cut, "-q")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"clubsim: note: {cut / PARTS / foreign.name}: it was written for another experiment (or seed), or by "
        "another version of clubsim; its replications were run again"]
    assert (cut / "replications.parquet").read_bytes() == (whole.out_dir / "replications.parquet").read_bytes()


def _restamped(data: bytes, stamp: bytes | None) -> tuple[str, bytes]:
    """A part's bytes with another stamp in its schema metadata (None: none, as before stamps existed), and
    the part's name for those bytes (its SHA-256 matches them)."""
    import hashlib

    table = pq.read_table(pa.BufferReader(data))
    table = table.replace_schema_metadata(None if stamp is None else {b"clubsim_experiment": stamp})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    data = sink.getvalue().to_pybytes()
    return f"part-00000-{hashlib.sha256(data).hexdigest()}.parquet", data


@pytest.mark.parametrize("stamp", [None, b"0" * 64], ids=["unstamped", "another-experiment"])
def test_resume_reruns_a_part_that_does_not_carry_its_experiments_stamp(tmp_path, stamp):
    experiment = load_experiment(write_experiment(tmp_path))
    whole = compare(experiment, workers=1, out=tmp_path / "whole", figures=False)
    cut = tmp_path / "cut"
    with pytest.raises(ExperimentInterrupted):
        compare(experiment, workers=1, out=cut, figures=False, stop_after=5)
    [part] = list((cut / PARTS).iterdir())
    name, data = _restamped(part.read_bytes(), stamp)
    part.unlink()
    (cut / PARTS / name).write_bytes(data)
    resumed = compare(experiment, workers=1, out=cut, figures=False, resume=True)
    assert resumed.rejected_parts == [name]
    assert resumed.rejected_reasons[name].startswith("it was written for another experiment")
    assert (cut / "replications.parquet").read_bytes() == (whole.out_dir / "replications.parquet").read_bytes()


def test_select_best_resume_reruns_a_part_of_another_experiment(tmp_path):
    from sim.experiments.selection import select_best

    path = write_experiment(tmp_path)
    whole = select_best(path, delta=1.0, first_stage=3, workers=1, out=tmp_path / "whole")
    cut = tmp_path / "cut"
    with pytest.raises(ExperimentInterrupted):
        select_best(path, delta=1.0, first_stage=3, workers=1, out=cut, stop_after=4)
    [part] = list((cut / PARTS).iterdir())
    name, data = _restamped(part.read_bytes(), b"0" * 64)
    part.unlink()
    (cut / PARTS / name).write_bytes(data)
    resumed = select_best(path, workers=1, out=cut, resume=True)
    assert resumed.rejected_parts == [name]
    assert (cut / "replications.parquet").read_bytes() == (whole.out_dir / "replications.parquet").read_bytes()


MARKET = "profession,sector,demand_weight,deal_value_median\n" + "".join(
    f"trade{i},sector{i % 4},{1 + i % 3},{1000 + 100 * i}\n" for i in range(40))


def test_resume_refuses_when_the_market_csv_changed(tmp_path):
    market = tmp_path / "market.csv"
    market.write_text(MARKET)
    scenario = tmp_path / "club.yaml"
    scenario.write_text(f"extends: {BNI}\nname: club\nmarket:\n  professions_csv: market.csv\n")
    experiment = load_experiment(write_experiment(tmp_path, scenario))
    out = tmp_path / "out"
    with pytest.raises(ExperimentInterrupted):
        compare(experiment, workers=1, out=out, figures=False, stop_after=2)
    market.write_text(MARKET.replace("trade3,sector3,1,", "trade3,sector3,3,"))  # same path, other market
    with pytest.raises(InputError, match=r"holds a different experiment \(differs in: the content of .*market.csv"):
        compare(load_experiment(tmp_path / "exp.yaml"), workers=1, out=out, figures=False, resume=True)
    market.write_text(MARKET)  # back as it was: it resumes
    compare(load_experiment(tmp_path / "exp.yaml"), workers=1, out=out, figures=False, resume=True)


# --------------------------------------------------------------------------- 6. errors cross processes


def _clubsim_exceptions() -> list[type[BaseException]]:
    """Every exception class defined in the sim package (modules whose extras are missing are skipped)."""
    for module in pkgutil.walk_packages(sim.__path__, "sim."):
        try:
            importlib.import_module(module.name)
        except ImportError:
            continue
    found: list[type[BaseException]] = []
    pending: list[type[BaseException]] = [BaseException]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            pending.append(sub)
            if sub.__module__.split(".")[0] == "sim" and sub not in found:
                found.append(sub)
    return found


EXAMPLES: dict[str, tuple] = {
    "InputError": ("exp.yaml", "runs", "must be at least 1"),
    "OutputError": ("out/members.csv", None, "cannot write: no space left on device"),
    "ExperimentInterrupted": (3, Path("results/x"), 12),
    "BackendError": ("the Dask scheduler at tcp://127.0.0.1:8786 went away",),
    "ExperimentFailed": ("the Dask scheduler at tcp://127.0.0.1:8786 went away", 3, Path("results/x"), 12),
    "UsageLineError": ("--seed: input should be a valid integer (see clubsim run --help)",),
    "Terminated": (),
    "WorkerFailure": ("naps._HoldsALock", "task 3 holds a lock", "Traceback (most recent call last): ..."),
}


def test_every_clubsim_exception_survives_a_pickle_round_trip():
    classes = _clubsim_exceptions()
    assert {InputError, ExperimentInterrupted} <= set(classes)
    for cls in classes:
        assert cls.__name__ in EXAMPLES, f"{cls.__module__}.{cls.__name__}: add an example here"
        err = cls(*EXAMPLES[cls.__name__])
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is cls and str(back) == str(err) and vars(back) == vars(err)


def _refuse(value: int) -> None:
    raise InputError("--set", "club.fees.annual", f"must be >= 0, got {value}")


def test_an_input_error_in_a_worker_process_reaches_the_parent_whole():
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        future = pool.submit(_refuse, -5)
        with pytest.raises(InputError) as caught:
            future.result(timeout=120)
    assert caught.value.field == "club.fees.annual"
    assert str(caught.value) == "--set: club.fees.annual: must be >= 0, got -5"


BATCH_RUN = """
import sys

if __name__ == "__main__":
    import mesa
    from sim import ClubModel, InputError
    try:
        mesa.batch_run(ClubModel, parameters={"scenario": sys.argv[1], "club.fees.annual": [-5, 960]}, rng=[1],
                       max_steps=1, number_processes=2, display_progress=False)
    except InputError as err:
        print(f"refused: {err}")
"""


def test_mesa_batch_run_over_two_processes_reports_a_refused_value_instead_of_hanging(tmp_path):
    script = tmp_path / "batch.py"
    script.write_text(BATCH_RUN)
    try:
        done = subprocess.run([sys.executable, str(script), str(BNI)], capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        pytest.fail("mesa.batch_run hung: the worker's InputError could not be unpickled")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("refused: ") and "club.fees.annual" in done.stdout


# --------------------------------------------------------------------------- 9. usage errors


@pytest.mark.parametrize("args, contains", [
    (["run", BNI, "--bogus"], ["--bogus: no such option", "clubsim run --help"]),
    (["run", BNI, "--seed", "abc"], ["--seed:", "integer"]),
    (["run", BNI, "--set", "years", "5"], ["--set takes KEY=VALUE", "write --set years=5"]),
    (["compare", BNI, "--set", "years", "5"], ["--set takes KEY=VALUE", "'years'"]),
    (["run"], ["SCENARIO: missing"]),
    (["nonsense"], ["no such command"]),
    (["--bogus"], ["--bogus: no such option"]),
])
def test_a_usage_error_is_one_line_with_exit_code_2(args, contains):
    one_error_line(clubsim(*args), *contains)


def test_the_installed_command_prints_usage_errors_as_one_line_and_its_version():
    bad = clubsim_process("run", BNI, "--seed", "abc")
    assert bad.returncode == 2 and bad.stderr.splitlines() == [
        bad.stderr.strip()] and bad.stderr.startswith("clubsim: error: --seed:"), bad.stderr
    version = clubsim_process("--version")
    assert version.returncode == 0 and version.stdout == f"clubsim {sim.__version__}\n"


# --------------------------------------------------------------------------- 13. the report's figures


def test_report_embeds_only_the_figures_the_manifest_lists_never_through_a_link(tmp_path):
    out = tmp_path / "run"
    ok("run", BNI, *SHORT, "--out", out, "-q")
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG\r\n\x1a\n a private picture")
    (out / "notes.png").symlink_to(secret)
    (out / "extra.png").write_bytes(b"\x89PNG\r\n\x1a\n not clubsim's")
    ok("report", out)
    page = (out / "report.html").read_text()
    assert "notes.png" not in page and "extra.png" not in page
    assert page.count("data:image/png;base64,") == 4  # the run's four figures


def test_report_refuses_a_listed_figure_replaced_by_a_link(tmp_path):
    out = tmp_path / "run"
    ok("run", BNI, *SHORT, "--out", out, "-q")
    secret = tmp_path / "secret.png"
    secret.write_bytes((out / "members.png").read_bytes())  # the same bytes: only the link is wrong
    (out / "members.png").unlink()
    (out / "members.png").symlink_to(secret)
    one_error_line(clubsim("report", out), "members.png: is a symbolic link")


# --------------------------------------------------------------------------- housekeeping


def test_outputs_names_the_figures_plots_draws():
    from sim.presentation.plots import CLUBS_FIGURE, FIGURE_FILES
    from sim.presentation.run_folder import RUN_CLUBS_FIGURE, RUN_FIGURES

    assert (RUN_FIGURES, RUN_CLUBS_FIGURE) == (FIGURE_FILES, CLUBS_FIGURE)


def test_a_killed_writers_temporary_files_are_cleared_by_the_next_writer(tmp_path):
    out = tmp_path / "run"
    ok("run", BNI, *SHORT, "--no-figures", "--out", out, "-q")
    (out / ".clubsim-tmp-0123456789ab-members.csv").write_text("half a fi")
    ok("run", BNI, *SHORT, "--no-figures", "--out", out, "-q")
    assert not list(out.glob(".clubsim-tmp-*"))


def test_parts_through_a_link_are_refused_not_written_outside_the_folder(tmp_path):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    ok("compare", BNI, BNI_OPEN, "--runs", 2, *SHORT, "--workers", 1, "--no-figures", "--out", out, "-q")
    elsewhere.mkdir()
    (out / "parts").symlink_to(elsewhere, target_is_directory=True)  # the parts went there, and stayed
    one_error_line(clubsim("compare", BNI, BNI_OPEN, "--runs", 2, *SHORT, "--workers", 1, "--no-figures",
                           "--out", out), "parts", "is a symbolic link")
    assert not list(elsewhere.iterdir())


@pytest.mark.parametrize("name", [".clubsim.lock", ".clubsim-tmp-page.html"])
def test_report_refuses_the_names_clubsim_keeps_for_itself(tmp_path, name):
    out = tmp_path / "run"
    ok("run", BNI, *SHORT, "--no-figures", "--out", out, "-q")
    one_error_line(clubsim("report", out, "--out", out / name), "a name clubsim keeps for its lock")
    assert not (out / name).exists() or name == ".clubsim.lock" and not (out / name).read_text().startswith("<")
