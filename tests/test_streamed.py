"""A region's outputs that stream (issue 20): its clubs' weekly series written to a temporary file while it
runs give the same files, to the byte, as the series held in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.model.metrics import _REGION_MEANS, SERIES_COLUMNS, region_series
from sim.model.runner import simulate

pytestmark = pytest.mark.usefixtures("numba_ready")

ROOT = Path(__file__).resolve().parent.parent
BNI = ROOT / "scenarios" / "bni_chapter.yaml"

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
            weighted = np.sum([v * np.asarray(club["members"]) for v, club in zip(values, clubs, strict=True)], axis=0)
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


# --------------------------------------------------------------------------- adding clubs up in one pass


def test_region_series_in_one_pass_has_the_bits_of_numpys_sums_over_stacks() -> None:
    clubs = simulate(BNI, 3, overrides=TWELVE).club_series_columns
    assert_same_columns(stacked_region_series(list(clubs)), region_series(iter(clubs)))
    rng = np.random.default_rng(5)  # many clubs of long sums: a summation order would show in the last bits
    weeks = 300
    synthetic = [{"week": np.arange(weeks), **{name: rng.random(weeks) * 1e5 for name in SERIES_COLUMNS[1:]},
                  "members": rng.integers(0, 50, weeks), "meeting": rng.integers(0, 2, weeks),
                  "joins": rng.integers(0, 3, weeks).astype(np.int32)} for _ in range(3000)]
    assert_same_columns(stacked_region_series(synthetic), region_series(synthetic))
    with pytest.raises(ValueError, match="at least one club"):
        region_series([])
