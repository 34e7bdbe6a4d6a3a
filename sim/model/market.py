"""The market a club lives in: professions, their sectors, demand and deal values.

Generated from `market.*` scenario parameters with the run's generator, or read
from a user's CSV. Both engines use the same market (it is initialisation,
not a rule of the weekly process).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.errors import InputError
from sim.model.scenario import MarketSpec

CSV_COLUMNS = ("profession", "sector", "demand_weight", "deal_value_median")


@dataclass(frozen=True)
class Market:
    names: tuple[str, ...]
    sector: np.ndarray          # int64[P]: sector of each profession
    demand_weight: np.ndarray   # float64[P]: relative frequency of client needs
    deal_median: np.ndarray     # float64[P]: median deal value, EUR
    sector_names: tuple[str, ...]

    @property
    def professions(self) -> int:
        return len(self.names)

    @property
    def sectors(self) -> int:
        return len(self.sector_names)

    def professions_in(self, sector: int) -> np.ndarray:
        return np.flatnonzero(self.sector == sector)


SECTOR_NAMES = (
    "construction", "real estate", "finance", "legal", "health", "IT",
    "marketing", "hospitality", "retail", "industry", "transport", "services",
)


def make_market(spec: MarketSpec, rng: np.random.Generator) -> Market:
    """Draw the market of a scenario (or read its CSV)."""
    if spec.professions_csv:
        return read_market_csv(Path(spec.professions_csv))
    sector = np.arange(spec.professions) % spec.sectors
    demand_weight = rng.lognormal(0.0, spec.demand_weight_sigma, spec.professions)
    deal_median = spec.deal_value_median * np.exp(rng.normal(0.0, spec.deal_value_spread, spec.professions))
    names, sector_names = market_names(spec.professions, spec.sectors)
    return Market(names, sector.astype(np.int64), demand_weight, deal_median, sector_names)


@functools.cache
def market_names(professions: int, sectors: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The generated market's profession and sector names (cached: every replication asks again)."""
    sector_names = tuple(SECTOR_NAMES[s] if s < len(SECTOR_NAMES) else f"sector {s}" for s in range(sectors))
    names = tuple(f"{sector_names[p % sectors]} #{p // sectors + 1}" for p in range(professions))
    return names, sector_names


def read_market_csv(path: Path) -> Market:
    import pandas as pd

    if not path.is_file():
        raise InputError(path, "market.professions_csv", "not a file" if path.exists() else "no such file")
    try:
        table = pd.read_csv(path)
    except Exception as err:  # pandas raises many kinds; all mean "not a readable CSV"
        raise InputError(path, "market.professions_csv", f"not a readable CSV: {err}") from None
    missing = [c for c in CSV_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(path, "market.professions_csv", f"missing columns {missing}; needs {list(CSV_COLUMNS)}")
    for column in ("demand_weight", "deal_value_median"):
        values = pd.to_numeric(table[column], errors="coerce")
        if values.isna().any() or (values <= 0).any():
            raise InputError(path, column, "must be a positive number on every row")
    if len(table) < 2:
        raise InputError(path, "market.professions_csv", "needs at least 2 professions")
    sector_names = tuple(dict.fromkeys(str(s) for s in table["sector"]))
    sector_index = {name: i for i, name in enumerate(sector_names)}
    return Market(
        names=tuple(str(n) for n in table["profession"]),
        sector=np.array([sector_index[str(s)] for s in table["sector"]], dtype=np.int64),
        demand_weight=table["demand_weight"].to_numpy(float),
        deal_median=table["deal_value_median"].to_numpy(float),
        sector_names=sector_names,
    )
