"""A region's outputs that stream (issue 20): its clubs' weekly series and the records of its members who left,
written to temporary files while it runs, give the same files, to the byte, as those held in memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from sim.interfaces.cli import app
from sim.kernels.layout import N_MEMBERS, N_SERIES, NEXT_ID
from sim.kernels.streaming import remap_weak_members
from sim.model import region as region_module
from sim.model.metrics import _REGION_MEANS, SERIES_COLUMNS, region_series
from sim.model.region import RegionEngine
from sim.model.runner import STREAM_CLUBS, region_outputs, simulate
from sim.model.scenario import load_config
from sim.model.state import weak_ties_of
from sim.model.streamed import MemberSpill, SeriesSpill, StreamedSeries

pytestmark = pytest.mark.usefixtures("numba_ready")

ROOT = Path(__file__).resolve().parent.parent
BNI = ROOT / "scenarios" / "bni_chapter.yaml"
CALVADOS = ROOT / "scenarios" / "region_calvados.yaml"
runner = CliRunner()

# 12 chapters for 3 years, with interclub events and transfers: every region phase writes to the series
TWELVE = {"years": 3, "club.founders": 20, "region.clubs": 12, "region.interclub_events_per_year": 12,
          "region.transfer_share": 0.5}


def stacked_region_series(clubs: list) -> dict[str, np.ndarray]:
    """The region's series as it was added up before streaming: numpy sums over stacks of the clubs'."""
    first = clubs[0]
    region: dict[str, np.ndarray] = {"week": np.asarray(first["week"])}
    members = np.sum([np.asarray(club["members"]) for club in clubs], axis=0)
    for name in SERIES_COLUMNS[1:]:
        values = [np.asarray(club[name]) for club in clubs]
        if name == "meeting":
            region[name] = np.max(values, axis=0)
        elif name in _REGION_MEANS:
            count = np.rint if name == "hunter_share" else np.asarray  # hunters are counted, not weighted shares
            weighted = np.sum([count(v * np.asarray(club["members"])) for v, club in zip(values, clubs, strict=True)],
                              axis=0)
            region[name] = np.divide(weighted, members, out=np.zeros(len(members)), where=members > 0)
        else:
            region[name] = np.sum(values, axis=0)
    return region


def assert_same_columns(one: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> None:
    assert list(one) == list(other)
    for name, values in one.items():
        assert values.dtype == other[name].dtype, name
        assert np.asarray(values).tobytes() == np.asarray(other[name]).tobytes() or (
            values.dtype == object and list(values) == list(other[name])), name


def assert_same_run(memory, streamed) -> None:  # noqa: ANN001 (two RunResults)
    assert json.dumps(memory.summary, sort_keys=True) == json.dumps(streamed.summary, sort_keys=True)
    assert_same_columns(memory.series_columns, streamed.series_columns)
    assert_same_columns(memory.members_columns, streamed.members_columns)
    assert len(memory.club_series_columns) == len(streamed.club_series_columns)
    for one, other in zip(memory.club_series_columns, streamed.club_series_columns, strict=True):
        assert_same_columns(one, other)


# --------------------------------------------------------------------------- adding clubs up in one pass


def test_region_series_in_one_pass_has_the_bits_of_numpys_sums_over_stacks() -> None:
    clubs = simulate(BNI, 3, overrides=TWELVE, outputs="memory").club_series_columns
    assert_same_columns(stacked_region_series(list(clubs)), region_series(iter(clubs)))
    rng = np.random.default_rng(5)  # many clubs of long sums: a summation order would show in the last bits
    weeks = 300
    synthetic = [{"week": np.arange(weeks), **{name: rng.random(weeks) * 1e5 for name in SERIES_COLUMNS[1:]},
                  "members": rng.integers(0, 50, weeks), "meeting": rng.integers(0, 2, weeks),
                  "joins": rng.integers(0, 3, weeks).astype(np.int32)} for _ in range(3000)]
    assert_same_columns(stacked_region_series(synthetic), region_series(synthetic))
    with pytest.raises(ValueError, match="at least one club"):
        region_series([])


# --------------------------------------------------------------------------- the same run, streamed


@pytest.mark.parametrize(("seed", "threads"), [(1, 1), (2, 2), (4, 1)])
def test_a_streamed_region_gives_the_same_bytes_as_one_in_memory(seed: int, threads: int) -> None:
    memory = simulate(BNI, seed, overrides=TWELVE, threads=threads, outputs="memory")
    streamed = simulate(BNI, seed, overrides=TWELVE, threads=threads, outputs="stream")
    assert isinstance(streamed.club_series_columns, StreamedSeries)
    assert not isinstance(memory.club_series_columns, StreamedSeries)
    assert_same_run(memory, streamed)
    assert streamed.summary["cross_club_business_total"] > 0  # the region's phases wrote to the series


def test_calvados_streamed_by_steps_of_weeks_is_the_calvados_in_memory() -> None:
    """The shipped region (12 clubs of two sizes), streamed and run in steps of 4 weeks (progress), on 2 threads."""
    overrides = {"years": 2}
    memory = simulate(CALVADOS, 9, overrides=overrides, outputs="memory")
    steps: list[int] = []
    streamed = simulate(CALVADOS, 9, overrides=overrides, outputs="stream", threads=2,
                        progress=lambda done, total: steps.append(done))
    assert len(steps) > 20
    assert_same_run(memory, streamed)


def test_a_ring_that_does_not_divide_the_horizon_read_halfway(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    """Rings of 5 weeks over 156, the series read after week 23 (the ring's last weeks written out early) and
    again at the end: the in-memory series each time. The spill file has no name in its folder."""
    monkeypatch.setattr(region_module, "STREAM_RING_WEEKS", 5)
    config = load_config(BNI, TWELVE).config
    memory = RegionEngine(config, np.random.default_rng(7))
    streamed = RegionEngine(config, np.random.default_rng(7), outputs="stream", spill_dir=tmp_path)
    assert streamed.ring == 5 and memory.ring == config.weeks and streamed.outputs == "stream"
    assert sum(ring.nbytes for ring in streamed.SE) == 12 * 5 * N_SERIES * 4
    for stop in (23, 24, None):
        memory.run_to(stop)
        streamed.run_to(stop)
        for c in range(12):
            assert_same_columns(memory.club_series_columns(c), streamed.club_series_columns(c))
    for one, other in zip(memory.clubs_series(), streamed.clubs_series(), strict=True):
        assert_same_columns(one, other)
    assert list(tmp_path.iterdir()) == []


def test_a_region_shorter_than_a_ring_streams_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(region_module, "STREAM_RING_WEEKS", 60)
    overrides = {**TWELVE, "years": 1}
    assert_same_run(simulate(BNI, 2, overrides=overrides, outputs="memory"),
                    simulate(BNI, 2, overrides=overrides, outputs="stream"))


def test_a_streamed_region_keeps_only_its_members_records(tmp_path: Path) -> None:
    """At a ring's end, a club holding the records of half its capacity's worth of members who left writes
    them to the spill file and reuses their rows: its records hold its members, fewer than that many who
    left, and two weeks of joins; every member ever comes back in id order."""
    config = load_config(BNI, TWELVE).config
    memory = RegionEngine(config, np.random.default_rng(3))
    streamed = RegionEngine(config, np.random.default_rng(3), outputs="stream", spill_dir=tmp_path)
    memory.run_to()
    streamed.run_to()
    capacity = config.club.capacity
    ever = [len(memory.club_members_columns(c)["member_id"]) for c in range(12)]
    held = [int(club.counters[NEXT_ID]) for club in streamed.C]
    assert sum(held) < 0.8 * sum(ever)  # the records of many who left are in the spill file
    for c in range(12):
        present = int(streamed.C[c].counters[N_MEMBERS])
        assert 2 * (held[c] - present) < capacity
        assert len(streamed.M[c]) <= max(held[c], present + 2 * capacity)
        gone, ids = streamed.member_spill.club(c)
        assert len(gone) == ever[c] - held[c] and (gone["exit_week"] >= 0).all()
        assert_same_columns(memory.club_members_columns(c), streamed.club_members_columns(c))
    for club in range(12):  # weak ties name members by their new records
        ties = weak_ties_of(streamed.region, club)
        for other, member in zip(ties.club[ties.club >= 0], ties.member[ties.club >= 0], strict=True):
            assert streamed.M[other].exit_week[member] < 0 and member < held[other]  # a member, in its club
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- the spill file


@pytest.mark.parametrize("iov_max", [None, 2])
def test_the_spill_file_reads_back_what_was_written_block_by_block(iov_max: int | None,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole blocks go out in one pwritev per IOV_MAX clubs (2: one call of two clubs, then one of one), parts of
    a block club by club."""
    from sim.model import streamed

    if iov_max is not None:
        monkeypatch.setattr(streamed, "IOV_MAX", iov_max)
    rng = np.random.default_rng(1)
    clubs, ring, weeks = 3, 4, 10
    full = [rng.random((weeks, N_SERIES)).astype(np.float32) for _ in range(clubs)]
    spill = SeriesSpill(clubs, ring)
    rings = [np.zeros((ring, N_SERIES), np.float32) for _ in range(clubs)]
    for week in range(weeks):
        for c in range(clubs):
            rings[c][week % ring] = full[c][week]
        if week == 5:
            spill.write(rings, 6)  # part of a block, then the rest of it
        if (week + 1) % ring == 0 or week + 1 == weeks:
            spill.write(rings, week + 1)
    assert spill.weeks == weeks
    for c in range(clubs):
        assert spill.club(c).tobytes() == full[c].tobytes()
    with pytest.raises(ValueError, match="span two blocks"):
        spill.write(rings, weeks + ring + 1)
    spill.close()


def test_a_spill_files_fallback_name_is_an_output_folders_temporary_file() -> None:
    from sim.experiments.folders import TEMP_PREFIX
    from sim.model import streamed

    assert streamed.TEMP_PREFIX == TEMP_PREFIX  # removed by the next run if a killed process left it


def test_regions_stream_from_a_thousand_clubs_unless_told() -> None:
    small = load_config(BNI, {"region.clubs": 12}).config
    large = load_config(BNI, {"region.clubs": STREAM_CLUBS}).config
    assert region_outputs(small) == "memory" and region_outputs(large) == "stream"
    assert region_outputs(large, "memory") == "memory" and region_outputs(small, "stream") == "stream"
    with pytest.raises(ValueError, match="unknown outputs"):
        region_outputs(small, "disk")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown outputs"):
        RegionEngine(small, np.random.default_rng(1), outputs="disk")


# --------------------------------------------------------------------------- the CLI and plain Python


def test_clubsim_run_stream_writes_the_same_files_and_leaves_no_other(tmp_path: Path) -> None:
    texts = []
    for flag in ("--stream", "--in-memory"):
        out = tmp_path / flag.strip("-")
        result = runner.invoke(app, ["run", str(BNI), "--set", "years=2", "--set", "region.clubs=5", flag,
                                     "--threads", "2", "--no-figures", "--out", str(out)])
        assert result.exit_code == 0, result.output
        manifest = json.loads((out / "manifest.json").read_text())
        assert sorted(path.name for path in out.iterdir()) == manifest["files"]
        texts.append({name: (out / name).read_text() for name in manifest["files"] if name != "manifest.json"})
    assert set(texts[0]) == {"summary.json", "timeseries.csv", "members.csv", "clubs.csv"}
    assert texts[0] == texts[1]


STREAMED_HASH = """
import hashlib, json
from sim.model.runner import simulate
result = simulate({bni!r}, 2, overrides={{"years": 1, "club.founders": 15, "region.clubs": 3,
                                         "region.interclub_events_per_year": 12}}, threads={threads},
                  outputs={outputs!r})
series = b"".join(c[k].tobytes() for c in result.club_series_columns for k in c)
summary = json.dumps(result.summary, sort_keys=True).encode()
print(hashlib.sha256(series).hexdigest(), hashlib.sha256(summary).hexdigest())
"""


def test_a_streamed_region_runs_as_plain_python_with_the_same_numbers() -> None:
    """NUMBA_DISABLE_JIT=1: the rings written at week % ring and spilled give the compiled in-memory series to
    the byte, and the summary of plain Python in memory (whose members' money differs from the compiled
    kernels' in the last bits, streamed or not)."""
    def digests(threads: int, outputs: str, disable_jit: bool) -> list[str]:
        env = {**os.environ, "NUMBA_DISABLE_JIT": "1" if disable_jit else "0"}
        code = STREAMED_HASH.format(bni=str(BNI), threads=threads, outputs=outputs)
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        return done.stdout.split()

    plain_streamed = digests(2, "stream", True)
    assert plain_streamed == digests(1, "memory", True)
    assert plain_streamed[0] == digests(1, "memory", False)[0]


def test_the_member_spill_gives_each_club_its_records_and_ids_batch_after_batch() -> None:
    dtype = np.dtype([("exit_week", np.int64), ("fees_paid", np.float64)])
    spill = MemberSpill(dtype, 3)
    batches = [
        ([np.array([(4, 1.5)], dtype), np.zeros(0, dtype), np.array([(2, 2.5), (3, 3.5)], dtype)], [[7], [], [0, 2]]),
        ([np.zeros(0, dtype)] * 3, [[], [], []]),  # nothing left anywhere: no batch
        ([np.array([(9, 4.5)], dtype), np.array([(8, 5.5)], dtype), np.zeros(0, dtype)], [[1], [0], []]),
    ]
    for records, ids in batches:
        spill.write(records, [np.array(i, dtype=np.int64) for i in ids])
    club0, ids0 = spill.club(0)
    assert club0.tolist() == [(4, 1.5), (9, 4.5)] and ids0.tolist() == [7, 1]
    club2, ids2 = spill.club(2)
    assert club2.tolist() == [(2, 2.5), (3, 3.5)] and ids2.tolist() == [0, 2]
    assert spill.club(1)[1].tolist() == [0]
    spill.close()


def test_weak_ties_follow_renumbered_members_and_report_a_lost_one() -> None:
    weak_club = np.array([[1, -1, 0], [1, 2, -1]], dtype=np.int32)
    weak_member = np.array([[3, 5, 1], [0, 4, 9]], dtype=np.int32)
    offset = np.array([-1, 0, -1], dtype=np.int64)  # club 1 renumbered: 0 -> 0, 1 -> -1 (left), 2 -> 1, 3 -> 2
    renumbered = np.array([0, -1, 1, 2], dtype=np.int64)
    assert remap_weak_members(weak_club, weak_member, offset, renumbered) == 0
    assert weak_member.tolist() == [[2, 5, 1], [0, 4, 9]]  # only live entries naming club 1 change
    weak_member[0, 0] = 1
    assert remap_weak_members(weak_club, weak_member, offset, renumbered) == 1
