"""What outside tools and users' own code rely on (issue 18, item 6).

Candidate shares set one or two at a time are rescaled; seeds are checked in one line;
`sim.run_metrics` is a picklable, flat, numeric function of (scenario, seed, overrides);
`ClubModel` stops `mesa.batch_run` when its club closes; `dir(sim)` lists the public API.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.errors import InputError
from sim.experiment import load_experiment
from sim.scenario import load_config

ROOT = Path(__file__).resolve().parent.parent
BNI = ROOT / "scenarios" / "bni_chapter.yaml"


def shares(overrides: dict, source: object = BNI) -> tuple[float, float, float]:
    return load_config(source, overrides).config.population.shares.as_tuple()


# --------------------------------------------------------------------------- candidate shares


def test_one_share_set_rescales_the_other_two_in_proportion() -> None:
    giver, reciprocator, hunter = shares({"population.shares.hunter": 0.2})
    base = shares({})
    assert hunter == 0.2
    assert giver + reciprocator + hunter == pytest.approx(1.0, abs=1e-12)
    assert giver / reciprocator == pytest.approx(base[0] / base[1])
    # the same from a mapping, a YAML string (as --set gives it), and with all of them left to one type
    assert shares({"population.shares": {"hunter": 0.2}}) == pytest.approx((giver, reciprocator, hunter))
    assert shares({"population.shares.hunter": "0.2"}) == pytest.approx((giver, reciprocator, hunter))
    assert shares({"population.shares.giver": 1}) == (1.0, 0.0, 0.0)


def test_two_shares_set_leave_the_rest_to_the_third() -> None:
    assert shares({"population.shares.giver": 0.5, "population.shares.hunter": 0.1}) == pytest.approx((0.5, 0.4, 0.1))


def test_shares_that_cannot_be_rescaled_are_refused_in_one_line() -> None:
    with pytest.raises(InputError, match=r"overrides: population\.shares: giver 0\.5 \+ hunter 0\.7 = 1\.2 leaves "
                                         r"less than nothing for reciprocator"):
        shares({"population.shares.giver": 0.5, "population.shares.hunter": 0.7})
    with pytest.raises(InputError, match=r"population\.shares\.hunter: Input should be less than or equal to 1"):
        shares({"population.shares.hunter": 1.2})
    with pytest.raises(InputError, match=r"population\.shares: giver \+ reciprocator \+ hunter must sum to 1, got 0\.6"):
        shares({"population.shares": {"giver": 0.2, "reciprocator": 0.2, "hunter": 0.2}})
    only_givers = {"population": {"shares": {"giver": 1.0, "reciprocator": 0.0, "hunter": 0.0}}}
    with pytest.raises(InputError, match=r"reciprocator and hunter are both 0 in the scenario"):
        shares({"population.shares.giver": 0.8}, only_givers)
    assert shares({"population.shares.hunter": 0.0}, only_givers) == (1.0, 0.0, 0.0)


def test_set_policies_and_sweeps_rescale_shares(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(BNI), "--set", "population.shares.hunter=0.4"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "exp.yaml"
    path.write_text(f"scenario: {BNI}\npolicies:\n  few: {{population.shares.hunter: 0.05}}\n"
                    "  many: {population.shares.hunter: 0.4}\n"
                    "sweep:\n  parameters:\n    population.shares.giver: {values: [0.2, 0.6]}\n", encoding="utf-8")
    experiment = load_experiment(path)
    assert experiment.policies["many"].population.shares.hunter == 0.4
    for (point, _policy), config in experiment.configs.items():  # each layer rescales what it leaves
        assert config.population.shares.giver == [0.2, 0.6][point]
        assert sum(config.population.shares.as_tuple()) == pytest.approx(1.0)
