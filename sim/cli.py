"""The `clubsim` command: `clubsim run` (one run to an output folder) and `clubsim validate`.

Bad input (`sim.errors.InputError`) prints one line `clubsim: error: ...` and exits 2;
any other failure prints one line and exits 1 (traceback with CLUBSIM_DEBUG=1).
Heavy modules (numba, pandas, matplotlib) load inside the commands, so `--help` is fast.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sim.errors import InputError

if TYPE_CHECKING:
    from sim.scenario import LoadedScenario, ScenarioConfig

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_INPUT = 2
EXIT_INTERRUPTED = 130
DEFAULT_SEED = 1
SET_OPTION = "--set"
ENGINE_OPTION = "--engine"

app = typer.Typer(
    name="clubsim",
    help="Agent-based simulator of business clubs (model: docs/ODD.md).",
    add_completion=False,
    no_args_is_help=True,
    # plain click help and usage errors: one "Error: ..." line, no rich boxes or pretty tracebacks
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


# --------------------------------------------------------------------------- errors


def _err(line: str) -> None:
    typer.echo(line, err=True)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


@contextmanager
def _reported_errors() -> Iterator[None]:
    """Turn any failure inside a command into one stderr line and an exit code (2, 1 or 130)."""
    try:
        yield
    except typer.Exit:
        raise
    except InputError as err:
        _err(f"clubsim: error: {_one_line(str(err))}")
        raise typer.Exit(EXIT_INPUT) from None
    except KeyboardInterrupt:
        _err("clubsim: interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Exception as err:
        if os.environ.get("CLUBSIM_DEBUG") == "1":
            traceback.print_exc(file=sys.stderr)
        _err(f"clubsim: unexpected error: {type(err).__name__}: {_one_line(str(err))}")
        raise typer.Exit(EXIT_UNEXPECTED) from None


# --------------------------------------------------------------------------- inputs


def parse_sets(assignments: list[str] | None) -> dict[str, str]:
    """`["club.fees.annual=1500", ...]` -> `{"club.fees.annual": "1500"}` (values parsed later as YAML)."""
    overrides: dict[str, str] = {}
    for item in assignments or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(
                SET_OPTION, repr(item), "expected dotted.key=value, e.g. --set club.fees.annual=1500"
            )
        overrides[key] = value.strip()
    return overrides


def _check_engine(engine: str) -> str:
    from sim.runner import ENGINES

    if engine not in ENGINES:
        raise InputError(ENGINE_OPTION, repr(engine), f"unknown engine; use one of: {', '.join(ENGINES)}")
    return engine


def _load(scenario: Path, sets: list[str] | None) -> LoadedScenario:
    from sim.scenario import load_config

    return load_config(scenario, parse_sets(sets))


def policy_summary(config: ScenarioConfig) -> str:
    """A scenario's policies in a few words, e.g. `weekly, 960 EUR/year, exclusivity, interview, ...`."""
    club = config.club
    frequency = {52: "weekly", 26: "fortnightly", 12: "monthly"}[club.meetings_per_year]
    fees = f"{club.fees.annual:g} EUR/year"
    if club.fees.billing == "monthly":
        fees += " billed monthly"
    if club.fees.entry:
        fees += f" + {club.fees.entry:g} EUR entry"
    parts = [frequency, fees, club.composition.policy]
    parts.append("interview" if club.selection.policy == "interview" else "no selection")
    if club.attendance_rule.enabled:
        rule = club.attendance_rule
        parts.append(f"attendance rule {rule.max_absences}/{rule.window_weeks} weeks")
    if club.contribution_rule.enabled:
        rule = club.contribution_rule
        parts.append(f"contribution rule {rule.min_referrals}/{rule.window_weeks} weeks")
    parts.append(f"capacity {club.capacity}")
    return ", ".join(parts)


# --------------------------------------------------------------------------- commands

ScenarioArg = Annotated[
    Path, typer.Argument(metavar="SCENARIO", help="scenario YAML file (see scenarios/)", show_default=False)
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        SET_OPTION,
        metavar="KEY=VALUE",
        help="override a scenario key (dotted, value read as YAML), e.g. club.fees.annual=1500; repeatable",
        show_default=False,
    ),
]


@app.command()
def run(
    scenario: ScenarioArg,
    seed: Annotated[
        int, typer.Option(min=0, help="random seed; a run is a pure function of (scenario, seed)")
    ] = DEFAULT_SEED,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="output folder [default: runs/<scenario name>-<seed>/]", show_default=False),
    ] = None,
    sets: SetOpt = None,
    engine: Annotated[
        str, typer.Option(ENGINE_OPTION, help="numba (fast, compiles on first use) or python (plain-Mesa reference)")
    ] = "numba",
    figures: Annotated[bool, typer.Option("--figures/--no-figures", help="draw the PNG figures")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print only the output folder")] = False,
) -> None:
    """Run one scenario and write summary.json, timeseries.csv, members.csv, manifest.json and figures."""
    with _reported_errors():
        engine = _check_engine(engine)
        club_scenario = _load(scenario, sets)
        config = club_scenario.config

        from sim.outputs import prepare_out_dir, summary_table, write_run

        out_dir = prepare_out_dir(out if out is not None else Path("runs") / f"{config.name}-{seed}")

        from rich.console import Console

        from sim.runner import simulate

        status = Console(stderr=True)
        if not quiet and status.is_terminal:
            note = " (the first numba run compiles the kernels)" if engine == "numba" else ""
            with status.status(f"simulating {config.name}, {config.years} years, seed {seed}{note}..."):
                result = simulate(club_scenario, seed, engine)
        else:
            result = simulate(club_scenario, seed, engine)
        write_run(
            out_dir,
            series=result.series,
            members=result.members,
            summary=result.summary,
            scenario=result.scenario,
            seed=seed,
            engine=engine,
            figures=figures,
            command=sys.argv,
        )
        if quiet:
            typer.echo(str(out_dir))
            return
        console = Console()
        console.print(summary_table(result.summary, f"{config.name}, seed {seed} ({engine}), {config.years} years"))
        console.print(f"output: {out_dir}", highlight=False, soft_wrap=True)


@app.command()
def validate(scenario: ScenarioArg, sets: SetOpt = None) -> None:
    """Check a scenario file (and overrides) against the schema, without running it."""
    with _reported_errors():
        config = _load(scenario, sets).config
        typer.echo(f"ok: {scenario} ({config.name}, {config.years} years, {policy_summary(config)})")


def main(argv: list[str] | None = None) -> Any:
    """Entry point for `python -m sim` (same as the `clubsim` console script)."""
    return app(args=argv, prog_name="clubsim")


__all__ = ["app", "main", "parse_sets", "policy_summary"]
