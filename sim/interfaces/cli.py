"""The `clubsim` command: `clubsim run` (one run to an output folder), `clubsim validate`, and the
Monte Carlo experiments `clubsim compare` (policies under common random numbers) and `clubsim sweep`,
and the checks against the world: `clubsim calibrate`, `clubsim validate-model`, `clubsim sensitivity`.

Bad input (`sim.errors.InputError`) prints one line `clubsim: error: ...` and exits 2;
any other failure prints one line and exits 1 (traceback with CLUBSIM_DEBUG=1).
An interrupted experiment (Ctrl-C) keeps its finished replications, prints how to resume, exits 130.
Heavy modules (numba, pandas, matplotlib) load inside the commands, so `--help` is fast.
"""

from __future__ import annotations

import math
import os
import shlex
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

try:  # typer vendors its own copy of click (0.2x): its usage errors are that copy's classes
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - a typer built on the click package
    from click import exceptions as click_errors  # type: ignore[no-redef]

from sim.errors import BackendError, InputError, Terminated

if TYPE_CHECKING:
    from rich.table import Table

    from sim.experiments.experiment import (
        ComparisonResult,
        Experiment,
        ExperimentFailed,
        ExperimentInterrupted,
        SweepResult,
    )
    from sim.model.scenario import LoadedScenario

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_BACKEND = 1  # the Dask cluster stopped (scheduler gone, no worker): neither bad input nor a bug
EXIT_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM
DEFAULT_SEED = 1
SET_OPTION = "--set"
ENGINE_OPTION = "--engine"
RESULTS_DIR = "results"

class UsageLineError(click_errors.UsageError):
    """A usage error (unknown option, a value of the wrong type, a missing argument) shown as the one line
    `clubsim: error: <option>: <what is wrong> (see clubsim <command> --help)`, exit 2, as bad input is."""

    def show(self, file: Any = None) -> None:
        typer.echo(f"clubsim: error: {self.message}", file=file or sys.stderr)


def _usage_line(err: click_errors.UsageError) -> str:
    """A click usage error in clubsim's words: the option first, then what is wrong."""
    ctx = err.ctx
    if isinstance(err, click_errors.NoSuchOption):
        text = f"{err.option_name}: no such option"
        if err.possibilities:
            text += f"; did you mean {' or '.join(err.possibilities)}?"
    elif isinstance(err, click_errors.BadParameter) and (err.param is not None or err.param_hint is not None):
        hint = err.param_hint if err.param_hint is not None else _param_name(err.param)
        hint = " / ".join(hint) if isinstance(hint, (list, tuple)) else str(hint).replace("'", "")
        message = "missing" if isinstance(err, click_errors.MissingParameter) else _one_line(err.message).rstrip(".")
        text = f"{hint}: {message[:1].lower()}{message[1:]}"
    else:
        text = _one_line(err.format_message()).rstrip(".")
        text = text[:1].lower() + text[1:]
        if "extra argument" in text:
            text += "; an option takes one value (--set KEY=VALUE is one word)"
    where = ctx.command_path if ctx is not None else "clubsim"
    return f"{text} (see {where} --help)"


def _param_name(param: Any) -> str:
    """An option by its long name (`--seed`), an argument by its metavar (`SCENARIO`)."""
    long = [name for name in getattr(param, "opts", []) if name.startswith("--")]
    if getattr(param, "param_type_name", "") == "option" and long:
        return long[0]
    return str(getattr(param, "metavar", None) or getattr(param, "name", "") or "?").upper()


class _ClubsimGroup(TyperGroup):
    """The clubsim command group: usage errors, its own and its commands', become `UsageLineError`s."""

    def make_context(self, info_name: str | None, args: list[str], parent: typer.Context | None = None,
                     **extra: Any) -> typer.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click_errors.UsageError as err:
            raise _as_usage_line(err) from None

    def invoke(self, ctx: typer.Context) -> Any:
        words = [*getattr(ctx, "_protected_args", []), *ctx.args]  # the command's words, before it parses them
        try:
            return super().invoke(ctx)
        except click_errors.UsageError as err:
            raise _as_usage_line(err, words) from None


SET_USAGE = f"{SET_OPTION} takes KEY=VALUE, e.g. {SET_OPTION} club.fees.annual=1200"


def _set_with_a_space(words: list[str]) -> str | None:
    """`--set KEY VALUE` (a space instead of `=`) in a command's words: what to write instead."""
    for at, word in enumerate(words[:-2]):
        if word == SET_OPTION and "=" not in words[at + 1] and not words[at + 2].startswith("-"):
            return f"{SET_OPTION} {words[at + 1]}={words[at + 2]}"
    return None


def _as_usage_line(err: click_errors.UsageError, words: list[str] | None = None) -> click_errors.UsageError:
    if isinstance(err, (UsageLineError, click_errors.NoArgsIsHelpError)):  # no arguments: the help
        return err
    if "extra argument" in err.format_message():
        meant = _set_with_a_space(words or [])
        if meant is not None:  # click's 'unexpected extra argument' is the VALUE of `--set KEY VALUE`
            return UsageLineError(f"{SET_USAGE} (one word: write {meant})", err.ctx)
    return UsageLineError(_usage_line(err), err.ctx)


app = typer.Typer(
    name="clubsim",
    help="Agent-based simulator of business clubs (model: docs/ODD.md).",
    add_completion=False,
    no_args_is_help=True,
    # plain click help; usage errors are one line (`_ClubsimGroup`), no rich boxes or pretty tracebacks
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    cls=_ClubsimGroup,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib import metadata

        from sim import __version__

        try:
            version = metadata.version("clubsim")
        except metadata.PackageNotFoundError:
            version = __version__
        typer.echo(f"clubsim {version}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="print clubsim's version and exit")] = False,
) -> None:
    """Agent-based simulator of business clubs (model: docs/ODD.md)."""


# --------------------------------------------------------------------------- errors


def _err(line: str) -> None:
    typer.echo(line, err=True)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops a command as Ctrl-C does (`Terminated`, a KeyboardInterrupt): what it holds is
    released, an experiment keeps its replications and says how to resume; the exit code is 143."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _stop_local_workers() -> None:
    """Stop the local pool's workers while the command still handles Ctrl-C: left to the interpreter's exit,
    a Ctrl-C while it joins the pool's threads printed a traceback and the command exited 0."""
    backends = sys.modules.get("sim.experiments.backends")  # imported only by the commands that replicate
    if backends is not None:
        backends.shutdown_pool()


@contextmanager
def _reported_errors() -> Iterator[None]:
    """Turn any failure inside a command into one stderr line and an exit code (2, 1, 130 or 143)."""
    try:
        with _sigterm_as_interrupt():
            yield
            _stop_local_workers()
    except typer.Exit:
        raise
    except InputError as err:
        _err(f"clubsim: error: {_one_line(str(err))}")
        raise typer.Exit(EXIT_INPUT) from None
    except Terminated:
        _err("clubsim: terminated")
        raise typer.Exit(EXIT_TERMINATED) from None
    except KeyboardInterrupt:
        _err("clubsim: interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except BackendError as err:
        _err(f"clubsim: error: {_one_line(str(err))}")
        raise typer.Exit(EXIT_BACKEND) from None
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
            raise InputError(None, None, f"{SET_USAGE} (got {SET_OPTION} {item!r})")
        overrides[key] = value.strip()
    return overrides


def _check_name(name: str, source: Path, sets: list[str] | None) -> str:
    """A scenario's name, which names its default output folder: a plain file name (`plain_name`)."""
    from sim.experiments.folders import plain_name

    return plain_name(name, SET_OPTION if "name" in parse_sets(sets) else source, "name")


def _years(years: int) -> str:
    return "1 year" if years == 1 else f"{years} years"


def _check_engine(engine: str) -> str:
    from sim.model.runner import ENGINES

    if engine not in ENGINES:
        raise InputError(ENGINE_OPTION, repr(engine), f"unknown engine; use one of: {', '.join(ENGINES)}")
    return engine


def _load(scenario: Path, sets: list[str] | None) -> LoadedScenario:
    from sim.model.scenario import load_config

    return load_config(scenario, parse_sets(sets), overrides_source="--set")


def _max_memory(text: str | None) -> int | None:
    """--max-memory `4G`, `512M`... in bytes (None: the memory this machine has available)."""
    if text is None:
        return None
    from sim.model.runner import parse_memory

    try:
        return parse_memory(text)
    except ValueError:
        raise InputError(MAX_MEMORY_OPTION, repr(text), "expected a size such as 4G, 512M or 1.5GiB") from None


MAX_MEMORY_OPTION = "--max-memory"
MaxMemoryOpt = Annotated[
    str | None,
    typer.Option(MAX_MEMORY_OPTION, metavar="SIZE", show_default=False,
                 help="refuse to start what is estimated to need more memory than SIZE (e.g. 4G) "
                      "[default: the memory this machine has available]"),
]


FORMAT_OPTION = "--format"
FormatOpt = Annotated[
    str,
    typer.Option(FORMAT_OPTION, metavar="table|csv|markdown|json",
                 help="what to print: a table laid out for the terminal's width, or the same numbers as csv, "
                      "markdown or json (units in a unit field; the output folder then goes to stderr)"),
]


def _check_format(fmt: str) -> str:
    from sim.presentation.tables import FORMATS

    if fmt not in FORMATS:
        raise InputError(FORMAT_OPTION, repr(fmt), f"unknown format; use one of: {', '.join(FORMATS)}")
    return fmt


def _emit(report: Any, fmt: str, output: Any) -> None:
    """Print a command's tables (`sim.presentation.tables.emit`) for the terminal's width, or as csv, markdown or
    json."""
    from sim.presentation.tables import emit, terminal_width

    emit(report, fmt, terminal_width() if fmt == "table" else None, output=None if output is None else str(output))


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
    max_memory: MaxMemoryOpt = None,
    fmt: FormatOpt = "table",
    threads: Annotated[
        int | None,
        typer.Option("--threads", min=1, metavar="N", show_default=False,
                     help="threads for a region's clubs (the results do not depend on it) "
                          "[default: the usable cores, at most one per 100 clubs]"),
    ] = None,
    stream: Annotated[
        bool | None,
        typer.Option("--stream/--in-memory", show_default=False,
                     help="a region's clubs' weekly series (numba engine): written to a temporary file in the "
                          "output folder as it runs, or held in memory (the files are the same) [default: "
                          "streamed from 1,000 clubs]"),
    ] = None,
) -> None:
    """Run one scenario and write summary.json, timeseries.csv, members.csv, manifest.json and figures."""
    with _reported_errors(), ExitStack() as cleanup:
        figure_process = None
        if figures:  # matplotlib loads in a second process while this one loads the engine
            from sim.presentation.figure_process import start_figure_process

            # before anything imports numpy (checking the engine's name does): forking is safe only while this
            # process has one thread, and numpy's BLAS starts its own as it loads
            figure_process = start_figure_process()
            if figure_process is not None:
                cleanup.callback(figure_process.close)
        engine = _check_engine(engine)
        fmt = _check_format(fmt)
        memory_limit = _max_memory(max_memory)
        club_scenario = _load(scenario, sets)
        config = club_scenario.config
        from sim.model.runner import check_cost, run_cost

        what = f"this run ({config.region.club_count:,} clubs)" if config.is_region else "this run"
        outputs = None if stream is None else "stream" if stream else "memory"
        check_cost(run_cost(config, engine, outputs), what, memory_limit, source=str(scenario))  # before its folder

        from sim.experiments.folders import OutputFolder
        from sim.presentation.run_folder import write_run

        if out is None:
            _check_name(config.name, scenario, sets)
            out = Path("runs") / f"{config.name}-{seed}"
        folder = cleanup.enter_context(OutputFolder(out))  # checked and locked before the model runs
        out_dir = folder.path

        from rich.console import Console

        from sim.model.runner import simulate

        status = Console(stderr=True)
        note = " (the first numba run compiles the kernels)" if engine == "numba" else ""
        if config.is_region:  # minutes at world scale: a bar counting weeks
            with _progress_bar(quiet, f"{config.name}, seed {seed}{note}", unit="weeks") as progress:
                result = simulate(club_scenario, seed, engine, progress=progress, threads=threads,
                                  outputs=outputs, spill_dir=out_dir)
        elif not quiet and status.is_terminal:
            with status.status(f"simulating {config.name}, {_years(config.years)}, seed {seed}{note}..."):
                result = simulate(club_scenario, seed, engine)
        else:
            result = simulate(club_scenario, seed, engine)
        clubs = None
        if result.club_names:
            from sim.presentation.run_folder import club_panel

            clubs = club_panel(result.club_names, result.club_series_columns, result.summary)
        write_run(
            folder,
            series=result.series_columns,
            members=result.members_columns,
            summary=result.summary,
            scenario=result.scenario,
            seed=seed,
            engine=engine,
            figures=figures,
            command=sys.argv,
            figure_process=figure_process,
            clubs=clubs,
        )
        if quiet:
            typer.echo(str(out_dir))
            return
        from sim.presentation.tables import summary_report

        what = f"{config.name}, seed {seed} ({engine}), {_years(config.years)}"
        report = summary_report(result.summary, what)
        if result.club_names:
            from sim.presentation.tables import clubs_grid

            report.grids[0].title = f"{what}, region of {len(result.club_names):,} clubs"
            report.grids.insert(0, clubs_grid(result.summary, f"{config.name}: clubs"))
        _emit(report, fmt, out_dir)


@app.command()
def validate(scenario: ScenarioArg, sets: SetOpt = None) -> None:
    """Check a scenario file (and overrides) against the schema, without running it."""
    with _reported_errors():
        config = _load(scenario, sets).config
        _check_name(config.name, scenario, sets)  # as `run` checks it: the name names the run's default folder
        if config.market.professions_csv:  # read as `run` reads it
            from sim.model.market import read_market_csv

            read_market_csv(Path(config.market.professions_csv))
        from sim.presentation.tables import policy_summary

        typer.echo(f"ok: {scenario} ({config.name}, {_years(config.years)}, {policy_summary(config)})")


# --------------------------------------------------------------------------- experiments: formatting

NONE = "—"
# the formatting helpers live in sim.model.metric_registry, the table layouts and policy_summary in
# sim.presentation.tables; these names
# stay importable from here (loaded on first use, so that `clubsim --help` stays fast)
_LAZY = {
    "format_estimate": ("sim.model.metric_registry", "format_estimate"),
    "metric_header": ("sim.model.metric_registry", "header"),
    "is_percent_metric": ("sim.model.metric_registry", "is_percent_metric"),
    "SURVIVORS_HEADER": ("sim.presentation.tables", "SURVIVORS_HEADER"),
    "policy_summary": ("sim.presentation.tables", "policy_summary"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        module, attribute = _LAZY[name]
        return getattr(import_module(module), attribute)
    raise AttributeError(f"module 'sim.interfaces.cli' has no attribute {name!r}")


def _finite(value: Any) -> bool:
    from sim.model.metric_registry import finite

    return finite(value)


def _parameter_value(value: Any) -> str:
    from sim.presentation.tables import parameter_text

    return parameter_text(value)


def comparison_table(result: ComparisonResult, compact: bool = False) -> Table:
    """Metrics as rows, policies as columns: mean [95 % CI] and, beneath, each policy's paired difference with
    the baseline [95 % CI] (`sim.presentation.tables.comparison_report`), as one table; `compact`: CIs on a line
    of their own.
    The command lays it out for the terminal's width (`sim.presentation.tables.rich_tables`)."""
    from sim.presentation.tables import comparison_report, grid_table

    return grid_table(comparison_report(result).grids[0], compact)


def sweep_table(result: SweepResult, compact: bool = False) -> Table:
    """One row per sweep point (and policy): the swept values, then each metric's mean [95 % CI]
    (`sim.presentation.tables.sweep_report`), as one table; `compact`: CIs on a line of their own."""
    from sim.presentation.tables import grid_table, sweep_report

    return grid_table(sweep_report(result).grids[0], compact)


def _print_table(build: Callable[[bool], Table], lines: list[str]) -> None:
    """Print `build(compact)` and lines to stdout. On a terminal too narrow for the table, CIs go on a
    second line (`compact`); off a terminal (a file, a pipe), the console is as wide as the table."""
    from rich.console import Console
    from rich.measure import Measurement

    console = Console()
    table = build(False)
    width = Measurement.get(console, console.options.update_width(100_000), table).maximum
    if not console.is_terminal:
        console = Console(width=max(80, width))
    elif width > console.width:
        table = build(True)
    console.print(table)
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)


# --------------------------------------------------------------------------- experiments: inputs and running


def _check_experiment_options(runs: int | None, precision: float | None, workers: int | None, seed: int | None,
                              backend: str | None, scheduler: str | None, min_runs: int = 1) -> str:
    """Options checked before anything loads; returns the backend (dask if a scheduler is given)."""
    from sim.experiments.backends import BACKENDS

    if runs is not None and runs < min_runs:
        raise InputError("--runs", None, f"must be at least {min_runs}, got {runs}")
    if precision is not None and not 0 < precision < 1:
        raise InputError("--precision", None,
                         f"must be between 0 and 1 (exclusive), e.g. 0.05 for 5 % of the mean; got {precision:g}")
    if seed is not None and seed < 0:
        raise InputError("--seed", None, f"must be >= 0, got {seed}")
    backend = backend if backend is not None else ("dask" if scheduler else "local")
    if backend not in BACKENDS:
        raise InputError("--backend", repr(backend), f"unknown backend; use one of: {', '.join(BACKENDS)}")
    from sim.experiments.backends import check_workers

    warning = check_workers(workers, backend, scheduler)
    if warning:
        _err(f"clubsim: warning: {warning}")
    if scheduler and backend != "dask":
        raise InputError("--scheduler", scheduler, "a Dask scheduler address needs --backend dask")
    if backend == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise InputError("--backend", "'dask'", "needs dask.distributed, which is not installed; "
                             "pip install 'dask[distributed]' or use --backend local") from None
    if scheduler:
        from sim.experiments.backends import check_scheduler_reachable

        check_scheduler_reachable(scheduler)
    return backend


def _load_comparison(files: list[Path], overrides: dict[str, str], runs: int | None) -> Experiment:
    """One experiment file, or scenario files as an ad hoc experiment (each a policy; the first the baseline)."""
    from sim.experiments.experiment import is_experiment_file, load_experiment, scenario_experiment

    kinds = [is_experiment_file(path) for path in files]
    if kinds == [True]:
        return load_experiment(files[0], overrides, overrides_source=SET_OPTION)
    if any(kinds):
        path = files[kinds.index(True)]
        raise InputError(path, None, "an experiment file: compare one experiment file, or several scenario files")
    return scenario_experiment(files, overrides, overrides_source=SET_OPTION,
                               **({"runs": runs} if runs is not None else {}))


def _output_folder(out: Path | None, resume: Path | None, experiment: Experiment,
                   suffix: str = "") -> tuple[Path, bool]:
    """The folder to write (`--out`, the `--resume` folder, or results/<name><suffix>/) and whether it resumes."""
    if resume is not None:
        if out is not None and Path(out) != Path(resume):
            raise InputError("--resume", str(resume), "continues the run in that folder; leave out --out")
        return resume, True
    if out is not None:
        return out, False
    from sim.experiments.folders import plain_name

    name = plain_name(experiment.name, experiment.source or "<scenarios>", "name")
    return Path(RESULTS_DIR) / f"{name}{suffix}", False


@contextmanager
def _progress_bar(quiet: bool, description: str, unit: str = "replications") -> Iterator[Any]:
    """A `(done, total)` callback drawing a rich progress bar on stderr; None (nothing drawn) off a terminal."""
    from rich.console import Console

    from sim.experiments.experiment import progress_bar

    console = Console(stderr=True)
    if quiet or not console.is_terminal:
        yield None
        return
    with progress_bar(description, console, unit) as update:
        yield update


def _resume_hint(command: str, files: list[Path], sets: list[str] | None, seed: int | None, out_dir: Path) -> str:
    """The command that finishes an interrupted run (same files, --set and --seed: they define the experiment)."""
    words = ["clubsim", command, *map(str, files)]
    for item in sets or []:
        words += [SET_OPTION, item]
    if seed is not None:
        words += ["--seed", str(seed)]
    return shlex.join([*words, "--resume", str(out_dir)])


def _interrupted(err: ExperimentInterrupted | ExperimentFailed, hint: str) -> typer.Exit:
    """The one line of an experiment stopped with its finished replications kept, ending in how to resume."""
    if isinstance(err, BackendError):
        _err(f"clubsim: error: {_one_line(str(err))}; finish with: {hint}")
        return typer.Exit(EXIT_BACKEND)
    what = "terminated" if err.signum == Terminated.signum else "interrupted"
    _err(f"clubsim: {what}: {err.kept} replications kept in {err.out_dir}; finish with: {hint}")
    return typer.Exit(128 + err.signum)


def _note_rejected_parts(result: ComparisonResult | SweepResult) -> None:
    """One stderr line per part --resume did not trust (changed, cut short or another experiment's): its
    replications ran again."""
    from sim.experiments.experiment import PART_CHANGED
    from sim.experiments.folders import PARTS

    for name in result.rejected_parts:
        reason = result.rejected_reasons.get(name, PART_CHANGED)
        _err(f"clubsim: note: {Path(result.out_dir or '.') / PARTS / name}: {reason}; its replications were run "
             "again")


def _precision_line(result: ComparisonResult | SweepResult) -> list[str]:
    if result.precision_met is None:
        return []
    key = result.experiment.key_metric
    if result.experiment.precision_on == "difference":
        key = f"the paired difference of {key} with {result.experiment.baseline}"
    if result.precision_met:
        return [f"precision: {key} reached the target after {result.runs} replications"]
    cap = result.experiment.max_runs
    why = "max_runs" if result.runs <= cap else f"the first batch: runs above max_runs, {cap}, make the cap"
    return [f"precision: {key} did not reach the target; stopped at {result.runs} replications ({why})"]


# --------------------------------------------------------------------------- experiments: commands

FilesArg = Annotated[
    list[Path],
    typer.Argument(metavar="FILE", show_default=False,
                   help="an experiment file (experiments/*.yaml), or several scenario files to compare as policies "
                        "(the first is the baseline)"),
]
ExperimentArg = Annotated[
    Path, typer.Argument(metavar="EXPERIMENT", show_default=False,
                         help="an experiment file with a sweep: section (e.g. experiments/pricing.yaml)")
]
RunsOpt = Annotated[
    int | None,
    typer.Option("--runs", "-n", metavar="N", show_default=False,
                 help="replications per policy (and sweep point) [default: the experiment's runs]"),
]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", metavar="DIR", show_default=False,
                 help="output folder [default: results/<experiment name>/]"),
]
BackendOpt = Annotated[
    str | None,
    typer.Option("--backend", metavar="local|dask", show_default=False,
                 help="local: a process pool on this machine [default]; dask: a Dask cluster "
                      "(--scheduler, or a local cluster)"),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", "-w", metavar="N", show_default=False,
                 help="worker processes [default: the usable cores]; 1 runs in this process"),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option("--scheduler", metavar="ADDR", show_default=False,
                 help="Dask scheduler address, e.g. tcp://host:8786 (implies --backend dask)"),
]
ResumeOpt = Annotated[
    Path | None,
    typer.Option("--resume", metavar="DIR", show_default=False,
                 help="continue an interrupted run in DIR: only the missing replications run"),
]
ExpSeedOpt = Annotated[
    int | None,
    typer.Option("--seed", metavar="N", show_default=False,
                 help="experiment seed: replication r of every policy uses the r-th seed spawned from it "
                      "[default: the experiment's]"),
]
AnalysisSeedOpt = Annotated[
    int | None,
    typer.Option("--seed", metavar="N", show_default=False,
                 help="seed of the replications: every point or particle is replicated on seeds spawned from it "
                      "(common random numbers) [default: the file's]"),
]
ExpSetOpt = Annotated[
    list[str] | None,
    typer.Option(SET_OPTION, metavar="KEY=VALUE", show_default=False,
                 help="override a key of the base scenario (every policy), e.g. years=5; repeatable"),
]
FiguresOpt = Annotated[bool, typer.Option("--figures/--no-figures", help="draw the PNG figures")]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="no progress bar and no table: print only the output folder")
]


@app.command("compare")
def compare_command(
    files: FilesArg,
    runs: RunsOpt = None,
    precision: Annotated[
        float | None,
        typer.Option("--precision", metavar="P", show_default=False,
                     help="replicate in batches until the key metric's 95 % CI half-width is <= P x |mean| "
                          "for every policy (0 < P < 1, e.g. 0.05), up to the experiment's max_runs"),
    ] = None,
    precision_on: Annotated[
        str | None,
        typer.Option("--precision-on", metavar="mean|difference", show_default=False,
                     help="what --precision looks at: each policy's mean [default], or each policy's paired "
                          "difference with the baseline (half-width <= P/(1+P) x |difference|, >= 10 runs)"),
    ] = None,
    out: OutOpt = None,
    backend: BackendOpt = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    resume: ResumeOpt = None,
    seed: ExpSeedOpt = None,
    sets: ExpSetOpt = None,
    figures: FiguresOpt = True,
    quiet: QuietOpt = False,
    max_memory: MaxMemoryOpt = None,
    fmt: FormatOpt = "table",
) -> None:
    """Compare policies: replicate each under common random numbers; mean, 95 % CI, paired difference with the baseline.

    Writes replications.parquet, comparison.csv, manifest.json and figures to the output folder.
    """
    with _reported_errors():
        fmt = _check_format(fmt)
        backend = _check_experiment_options(runs, precision, workers, seed, backend, scheduler)
        memory_limit = _max_memory(max_memory)
        experiment = _load_comparison(files, parse_sets(sets), runs)
        out_dir, resuming = _output_folder(out, resume, experiment)

        from sim.experiments import experiment as experiments
        from sim.presentation.experiment_plots import FIGURES

        try:
            with _progress_bar(quiet, f"compare {experiment.name}") as progress:
                result = experiments.compare(
                    experiment, runs, backend=backend, workers=workers, scheduler=scheduler, out=out_dir,
                    resume=resuming, precision=precision, precision_on=precision_on,
                    seed=seed, progress=progress, figures=figures, figure_set=FIGURES,
                    command=sys.argv, max_memory=memory_limit,
                )
        except (experiments.ExperimentInterrupted, experiments.ExperimentFailed) as err:
            raise _interrupted(err, _resume_hint("compare", files, sets, seed, err.out_dir or out_dir)) from None
        _note_rejected_parts(result)
        if quiet:
            typer.echo(str(result.out_dir))
            return
        from sim.presentation.tables import comparison_report

        report = comparison_report(result)
        report.notes += [*variance_reduction_lines(result), *_precision_line(result)]
        _emit(report, fmt, result.out_dir)


@app.command("sweep")
def sweep_command(
    experiment_file: ExperimentArg,
    runs: RunsOpt = None,
    out: OutOpt = None,
    backend: BackendOpt = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    resume: ResumeOpt = None,
    seed: ExpSeedOpt = None,
    sets: ExpSetOpt = None,
    figures: FiguresOpt = True,
    quiet: QuietOpt = False,
    max_memory: MaxMemoryOpt = None,
    fmt: FormatOpt = "table",
) -> None:
    """Sweep scenario parameters (grid or Latin hypercube): replicate every point with the same seeds.

    Writes replications.parquet, sweep.csv, manifest.json and sweep_<metric>.png to the output folder.
    """
    with _reported_errors():
        fmt = _check_format(fmt)
        backend = _check_experiment_options(runs, None, workers, seed, backend, scheduler)
        memory_limit = _max_memory(max_memory)

        from sim.experiments import experiment as experiments
        from sim.presentation.experiment_plots import FIGURES

        experiment = experiments.load_experiment(experiment_file, parse_sets(sets), overrides_source=SET_OPTION)
        if experiment.sweep is None:
            raise InputError(experiment_file, "sweep", "missing: this experiment has no sweep: section; "
                                                       "run it with clubsim compare")
        out_dir, resuming = _output_folder(out, resume, experiment)
        try:
            with _progress_bar(quiet, f"sweep {experiment.name}") as progress:
                result = experiments.sweep(
                    experiment, runs, backend=backend, workers=workers, scheduler=scheduler, out=out_dir,
                    resume=resuming, seed=seed, progress=progress, figures=figures, figure_set=FIGURES,
                    command=sys.argv, max_memory=memory_limit,
                )
        except (experiments.ExperimentInterrupted, experiments.ExperimentFailed) as err:
            hint = _resume_hint("sweep", [experiment_file], sets, seed, err.out_dir or out_dir)
            raise _interrupted(err, hint) from None
        _note_rejected_parts(result)
        if quiet:
            typer.echo(str(result.out_dir))
            return
        from sim.presentation.tables import sweep_report

        report = sweep_report(result)
        report.notes += _precision_line(result)
        _emit(report, fmt, result.out_dir)


def variance_reduction_lines(result: ComparisonResult) -> list[str]:
    """The line under the comparison table on common random numbers: per metric, the unpaired variance of Δ
    over its paired variance (comparison.csv's `crn_variance_ratio`), one value or the range over the policies."""
    from sim.experiments.spec import CRN_COLUMN

    table = result.table
    if CRN_COLUMN not in table or len(result.policies) < 2:
        return []

    def shown(ratio: float) -> str:
        return "∞" if ratio == math.inf else ">10,000" if ratio > 1e4 else f"{ratio:,.3g}"

    parts = []
    for metric in result.experiment.metrics:
        ratios = table.loc[(table["metric"] == metric) & (table["policy"] != result.experiment.baseline),
                           CRN_COLUMN].astype(float)
        ratios = ratios[ratios.notna()]
        if ratios.empty:
            continue
        low, high = shown(ratios.min()), shown(ratios.max())
        parts.append(f"{metric} ×{low}" if low == high else f"{metric} ×{low} to {high}")
    if not parts:
        return []
    return ["CRN variance reduction of Δ (unpaired ÷ paired variance): " + ", ".join(parts)]


# --------------------------------------------------------------------------- select-best


def selection_rich_table(result: Any, compact: bool = False) -> Table:
    """Policies ranked by KN: replications used, the key metric's mean [95 % CI], the paired difference
    with the selected policy [95 % CI], and the stage at which each was eliminated."""
    from rich.table import Table
    from rich.text import Text

    from sim.model.metric_registry import format_estimate, is_percent_metric
    from sim.model.metric_registry import header as metric_header

    experiment = result.experiment
    metric = experiment.key_metric
    percent = is_percent_metric(metric)
    sep = "\n" if compact else " "
    best = result.best
    direction = "largest" if experiment.key_metric_direction == "max" else "smallest"
    table = Table(
        title=f"{experiment.name}: select the {direction} {metric} (KN, δ = {result.delta:g}, "
              f"confidence {result.confidence:g})",
        caption=f"mean [95 % CI] over the replications each policy used; Δ: paired difference with {best} "
                "[95 % CI]; eliminated: after that many replications",
        header_style="bold", title_style="bold", caption_justify="left",
    )
    table.add_column("policy", style="cyan", no_wrap=True)
    table.add_column("replications", justify="right")
    table.add_column(metric_header(metric), justify="right")
    table.add_column(f"Δ vs {best}", justify="right")
    table.add_column("eliminated", justify="right")
    for row, stage in zip(result.table.itertuples(index=False), result.selection.eliminated_at, strict=True):
        if row.selected:
            status: Any = Text("selected" if result.selection.stopped == "selected" else "largest mean",
                               style="bold")
        else:
            status = "in contention" if stage is None else f"at {stage:,}"
        diff = NONE if row.selected else format_estimate(row.diff_vs_best, row.diff_ci_low, row.diff_ci_high,
                                                         percent=percent, sign=True, sep=sep)
        label = Text(row.policy, style="bold cyan") if row.selected else row.policy
        table.add_row(label, f"{row.replications:,}",
                      format_estimate(row.mean, row.ci_low, row.ci_high, percent=percent, sep=sep), diff, status)
    return table


def _selection_lines(result: Any) -> list[str]:
    sel = result.selection
    total, fixed = sel.total_replications, sel.fixed_n * len(result.policies)
    if sel.stopped == "selected":
        head = (f"best: {result.best}, with probability >= {result.confidence:g} of being the best when it leads "
                f"by at least δ = {result.delta:g}")
    else:
        left = sum(stage is None for stage in sel.eliminated_at)
        head = (f"stopped at --max-runs ({result.max_runs:,} replications per policy) with {left} policies in "
                f"contention: {result.best} has the best mean, without the guarantee")
    return [head, f"replications: {total:,} (a fixed two-stage design of the same guarantee: {fixed:,})",
            f"output: {result.out_dir}"]


@app.command("select-best")
def select_best_command(
    experiment_file: Annotated[
        Path, typer.Argument(metavar="EXPERIMENT", show_default=False,
                             help="an experiment file with policies (e.g. experiments/fees_vs_selection.yaml)")
    ],
    delta: Annotated[
        float | None,
        typer.Option("--delta", metavar="D", show_default=False,
                     help="indifference zone, in the key metric's unit: a lead smaller than D does not matter "
                          "(required, unless resuming)"),
    ] = None,
    confidence: Annotated[
        float | None,
        typer.Option("--confidence", metavar="P", show_default=False,
                     help="probability of correct selection when the best leads by D [default: 0.95]"),
    ] = None,
    first_stage: Annotated[
        int | None,
        typer.Option("--first-stage", metavar="N0", show_default=False,
                     help="replications of every policy before any is eliminated [default: 20]"),
    ] = None,
    max_runs: Annotated[
        int | None,
        typer.Option("--max-runs", metavar="N", show_default=False,
                     help="at most N replications per policy [default: the experiment's max_runs]"),
    ] = None,
    batch: Annotated[
        int, typer.Option("--batch", metavar="B", min=1,
                          help="replications requested at once per policy in contention (speed only: the "
                               "decisions and the files do not depend on it)")
    ] = 10,
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="DIR", show_default=False,
                     help="output folder [default: results/<experiment name>_select_best/]"),
    ] = None,
    backend: BackendOpt = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    resume: ResumeOpt = None,
    seed: ExpSeedOpt = None,
    sets: ExpSetOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Select the best policy on the key metric with a guaranteed probability (KN, common random numbers).

    Replicates every policy --first-stage times, then only those still in contention, eliminating
    the others as the data allow. Writes replications.parquet, selection.json, selection.csv and
    manifest.json to the output folder.
    """
    with _reported_errors():
        backend = _check_experiment_options(None, None, workers, seed, backend, scheduler)

        from sim.experiments import experiment as experiments
        from sim.experiments import selection

        experiment = experiments.load_experiment(experiment_file, parse_sets(sets), overrides_source=SET_OPTION)
        out_dir, resuming = _output_folder(out, resume, experiment, "_select_best")
        try:
            with _progress_bar(quiet, f"select-best {experiment.name}") as progress:
                result = selection.select_best(
                    experiment, delta=delta, confidence=confidence, first_stage=first_stage, max_runs=max_runs,
                    batch=batch, seed=seed, backend=backend, workers=workers, scheduler=scheduler, out=out_dir,
                    resume=resuming, progress=progress, command=sys.argv,
                )
        except (experiments.ExperimentInterrupted, experiments.ExperimentFailed) as err:
            hint = _resume_hint("select-best", [experiment_file], sets, seed, err.out_dir or out_dir)
            raise _interrupted(err, hint) from None
        _note_rejected_parts(result)
        if quiet:
            typer.echo(str(result.out_dir))
            return
        _print_table(partial(selection_rich_table, result), _selection_lines(result))



# --------------------------------------------------------------------------- discover


def _box_cells(row: Any, parameters: list[str]) -> list[str]:
    """A box's limits, one cell per parameter: `low – high`, or the categories it keeps."""
    cells = []
    for parameter in parameters:
        if f"{parameter}_in" in row:
            cells.append("{" + str(row[f"{parameter}_in"]).replace("|", ", ") + "}")
        else:
            cells.append(f"{_parameter_value(row[f'{parameter}_low'])} – {_parameter_value(row[f'{parameter}_high'])}")
    return cells


def discovery_tables(result: Any) -> list[Table]:
    """PRIM's chosen box (limits per parameter against the sampled range), its trade-off curve, CART's
    densest leaves, and the policies' robustness."""
    import numpy as np
    from rich.table import Table

    from sim.model.metric_registry import format_estimate, is_percent_metric
    from sim.model.metric_registry import header as metric_header

    tables = []
    parameters = list(result.x.columns)
    box = result.box
    if box is not None:
        table = Table(title=f"PRIM box {result.chosen}: coverage {box['coverage']:.0%}, density "
                            f"{box['density']:.0%}, mass {box['mass']:.0%}",
                      caption="coverage: share of the cases of interest inside the box; density: share of the "
                              "box's cases that are; mass: share of all cases inside; * restricted",
                      header_style="bold", title_style="bold", caption_justify="left")
        table.add_column("parameter", style="cyan", no_wrap=True)
        table.add_column("sampled", justify="right")
        table.add_column("box", justify="right")
        first = result.boxes.iloc[0]
        restricted = str(box["restricted"]).split()
        for parameter, sampled, limits in zip(parameters, _box_cells(first, parameters),
                                              _box_cells(box, parameters), strict=True):
            mark = " *" if parameter in restricted else "  "
            table.add_row(parameter, sampled, limits + mark)
        tables.append(table)
        curve = Table(title="PRIM trade-off curve (boxes.csv has every box and its limits)", header_style="bold",
                      title_style="bold")
        for column in ("box", "coverage", "density", "mass", "restricted"):
            curve.add_column(column, justify="right")
        boxes = result.boxes
        shown = sorted({*np.linspace(0, len(boxes) - 1, min(len(boxes), 8)).round().astype(int).tolist(),
                        int(np.flatnonzero(boxes["box"].to_numpy() == result.chosen)[0])})
        for i in shown:
            row = boxes.iloc[i]
            label = f"{int(row['box'])}" + (" (chosen)" if int(row["box"]) == result.chosen else "")
            curve.add_row(label, f"{row['coverage']:.0%}", f"{row['density']:.0%}", f"{row['mass']:.0%}",
                          f"{int(row['res_dim'])}")
        tables.append(curve)
    if not result.cart.empty:
        leaves = Table(title="CART: the densest leaves (cart.csv has them all)", header_style="bold",
                       title_style="bold")
        for column in ("leaf", "coverage", "density", "mass", *parameters):
            leaves.add_column(column, justify="right")
        for _, row in result.cart.head(5).iterrows():
            leaves.add_row(f"{int(row['leaf'])}", f"{row['coverage']:.0%}", f"{row['density']:.0%}",
                           f"{row['mass']:.0%}", *_box_cells(row, parameters))
        tables.append(leaves)
    key = result.experiment.key_metric
    percent = is_percent_metric(key)
    scores = Table(title=f"Robustness over {len(result.sweep.experiment.points)} sampled conditions",
                   caption=f"requirement: {result.requirement or '(none: --requirement)'}, on each condition's "
                           f"means; regret: how far {key} falls short of the best policy's in that condition",
                   header_style="bold", title_style="bold", caption_justify="left")
    for column in ("policy", "requirement met", f"{metric_header(key)}", "regret, mean", "regret, worst",
                   "best in"):
        scores.add_column(column, justify="left" if column == "policy" else "right",
                          style="cyan" if column == "policy" else None)
    for _, row in result.robustness.iterrows():
        met = NONE if not _finite(row["requirement_met"]) else f"{row['requirement_met']:.0%}"
        scores.add_row(row["policy"], met, format_estimate(row[f"{key}_mean"], percent=percent),
                       format_estimate(row["regret_mean"], percent=percent),
                       format_estimate(row["regret_max"], percent=percent), f"{row['best_share']:.0%}")
    tables.append(scores)
    return tables


@app.command("discover")
def discover_command(
    experiment_file: Annotated[
        Path, typer.Argument(metavar="EXPERIMENT", show_default=False,
                             help="an experiment file with uncertainties: (e.g. experiments/discovery_bni.yaml)")
    ],
    outcome: Annotated[
        str, typer.Option("--outcome", metavar="EXPR", show_default=False,
                          help="the outcome to explain, true or false per replication, e.g. 'survived == False' "
                               "or 'roi_mean < 0' (pandas eval over the metrics and parameters)")
    ],
    requirement: Annotated[
        str | None,
        typer.Option("--requirement", metavar="EXPR", show_default=False,
                     help="what a policy must achieve in a condition, on its means there, e.g. "
                          "'survived >= 0.9 and roi_mean >= 1' (robustness: share of conditions met)"),
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option("--policy", metavar="NAME", show_default=False,
                     help="look for boxes among this policy's replications only [default: all, the policy a "
                          "dimension]"),
    ] = None,
    mass_min: Annotated[
        float, typer.Option("--mass-min", metavar="M", help="smallest box, as a share of all cases (PRIM, CART)")
    ] = 0.05,
    min_coverage: Annotated[
        float, typer.Option("--min-coverage", metavar="C",
                            help="the chosen box is the densest that covers at least C of the cases of interest")
    ] = 0.5,
    runs: RunsOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="DIR", show_default=False,
                     help="output folder [default: results/<experiment name>_discover/]"),
    ] = None,
    backend: BackendOpt = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    resume: ResumeOpt = None,
    seed: ExpSeedOpt = None,
    sets: ExpSetOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Scenario discovery: where (in the uncertainties) an outcome happens (PRIM, CART); each policy's robustness.

    Replicates every sampled condition under every policy, then writes, beside the sweep's files,
    boxes.csv, cart.csv, robustness.csv, discovery.json and discovery.png.
    """
    with _reported_errors():
        backend = _check_experiment_options(runs, None, workers, seed, backend, scheduler)

        from sim.experiments import discovery
        from sim.experiments import experiment as experiments
        from sim.presentation.analysis_figures import discovery_figures

        experiment = experiments.load_experiment(experiment_file, parse_sets(sets), overrides_source=SET_OPTION)
        out_dir, resuming = _output_folder(out, resume, experiment, "_discover")
        try:
            with _progress_bar(quiet, f"discover {experiment.name}") as progress:
                result = discovery.discover(
                    experiment, outcome, requirement=requirement, policy=policy, mass_min=mass_min,
                    min_coverage=min_coverage, runs=runs, seed=seed, backend=backend, workers=workers,
                    scheduler=scheduler, out=out_dir, resume=resuming, progress=progress, command=sys.argv,
                    draw_figures=discovery_figures,
                )
        except (experiments.ExperimentInterrupted, experiments.ExperimentFailed) as err:
            hint = _resume_hint("discover", [experiment_file], sets, seed, err.out_dir or out_dir)
            hint += " --outcome " + shlex.quote(outcome)
            if requirement is not None:
                hint += " --requirement " + shlex.quote(requirement)
            raise _interrupted(err, hint) from None
        _note_rejected_parts(result.sweep)
        if quiet:
            typer.echo(str(result.out_dir))
            return
        from rich.console import Console

        console = Console() if Console().is_terminal else Console(width=160)
        console.print(f"outcome {outcome}: {int(result.y.sum()):,} of {len(result.y):,} replications "
                      f"({result.base_rate:.1%})", highlight=False)
        if result.box is None:
            console.print("the outcome never or always happens among these replications: no box to find",
                          highlight=False)
        for table in discovery_tables(result):
            console.print(table)
        console.print(f"output: {result.out_dir}", highlight=False, soft_wrap=True)


# --------------------------------------------------------------------------- report and web page


@app.command("report")
def report_command(
    folder: Annotated[Path, typer.Argument(metavar="DIR", show_default=False,
                                           help="an output folder of clubsim run, compare or sweep")],
    out: Annotated[Path | None, typer.Option("--out", metavar="FILE", show_default=False,
                                             help="the HTML file to write [default: DIR/report.html]")] = None,
) -> None:
    """Write one self-contained HTML report (tables, figures, scenario, manifest) of a run, compare or sweep folder."""
    with _reported_errors():
        from sim.presentation.report import write_report

        typer.echo(str(write_report(folder, out)))


@app.command("app")
def app_command(
    scenarios: Annotated[list[Path] | None, typer.Argument(
        metavar="SCENARIO", show_default=False,
        help="scenario files to offer besides the shipped ones; the page starts from the first")] = None,
    host: Annotated[str, typer.Option(help="address to listen on (127.0.0.1: this computer only)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8765,
    open_browser: Annotated[bool, typer.Option("--open/--no-open", help="open the page in a browser")] = True,
    allow_host: Annotated[list[str] | None, typer.Option(
        "--allow-host", metavar="NAME", show_default=False,
        help="another name the page is reached by (repeatable); requests for any other Host or from another "
             "site's page are refused")] = None,
) -> None:
    """Start the web page for club founders: set the policies, watch the club run, compare with the start."""
    with _reported_errors():
        try:
            from sim.interfaces import app as web
        except ImportError as err:
            raise InputError("clubsim app", None, f"needs the web extras ({err.name} is not installed): "
                                                  "pip install 'clubsim[app]'") from None
        web.serve(scenarios or [], host=host, port=port, open_browser=open_browser, allow_hosts=allow_host or ())


# --------------------------------------------------------------------------- calibration and validation


@app.command("calibrate")
def calibrate_command(
    scenario: ScenarioArg,
    targets: Annotated[Path, typer.Option("--targets", metavar="FILE", show_default=False,
                                          help="targets file: real figures, tolerances, sources and the free "
                                               "parameters with bounds (e.g. scenarios/targets/bni_2018.yaml)")],
    out: Annotated[Path | None, typer.Option("--out", metavar="DIR", show_default=False,
                                             help="output folder [default: results/calibrate-<name>/]")] = None,
    runs: Annotated[int | None, typer.Option("--runs", "-n", metavar="N", show_default=False,
                                             help="replications per evaluation [default: the targets file's]")] = None,
    check_runs: Annotated[int | None, typer.Option("--check-runs", metavar="N", show_default=False,
                                                   help="replications of the final fit check, on fresh seeds "
                                                        "[default: the targets file's]")] = None,
    evaluations: Annotated[int | None, typer.Option("--evaluations", metavar="N", show_default=False,
                                                    help="at most N scenario evaluations "
                                                         "[default: the targets file's]")] = None,
    method: Annotated[str | None, typer.Option("--method", metavar="differential_evolution|nelder_mead|abc",
                                               show_default=False,
                                               help="optimiser [default: the targets file's]; nelder_mead starts "
                                                    "from the scenario's values; abc: the posterior by "
                                                    "approximate Bayesian computation (pyABC's ABC-SMC)")] = None,
    population: Annotated[int | None, typer.Option("--population", metavar="N", show_default=False,
                                                   help="abc: particles per generation [default: 50]")] = None,
    generations: Annotated[int | None, typer.Option("--generations", metavar="N", show_default=False,
                                                    help="abc: at most N generations [default: 6]")] = None,
    epsilon: Annotated[float | None, typer.Option("--epsilon", metavar="E", show_default=False,
                                                  help="abc: stop when the acceptance threshold reaches E, the "
                                                       "targets' RMS error in tolerances [default: 0.5]")] = None,
    predictive_draws: Annotated[int | None, typer.Option(
        "--predictive-draws", metavar="N", show_default=False,
        help="abc: posterior draws of the predictive check, each replicated --runs times [default: 20]")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="abc: continue the interrupted calibration in --out from its last finished "
                         "generation (pyABC's abc.db)")] = False,
    seed: AnalysisSeedOpt = None,
    backend: BackendOpt = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Calibrate a scenario's free parameters to real figures; write a scenario that extends it, and the fit.

    Writes <scenario>_calibrated.yaml, fit.csv, evaluations.csv and manifest.json to the output folder.
    """
    with _reported_errors():
        backend = _check_experiment_options(runs, None, workers, seed, backend, scheduler, min_runs=2)
        from sim.experiments.calibration import METHODS, calibrate
        from sim.model.scenario import load_config
        from sim.presentation.analysis_tables import fit_rich_table

        if method is not None and method not in (*METHODS, "abc"):
            raise InputError("--method", repr(method), f"unknown method; use one of: {', '.join((*METHODS, 'abc'))}")
        name = load_config(scenario).config.name
        out_dir = out if out is not None else Path(RESULTS_DIR) / f"calibrate-{_check_name(name, scenario, None)}"
        if method != "abc" and (population, generations, epsilon, predictive_draws) != (None, None, None, None):
            raise InputError("--population", None, "--population, --generations, --epsilon and --predictive-draws "
                                                   "are for --method abc")
        if method != "abc" and resume:
            raise InputError("--resume", None, "is for --method abc")
        with _progress_bar(quiet, f"calibrate {name}") as progress:
            if method == "abc":
                from sim.experiments.abc_calibration import calibrate_abc
                from sim.presentation.analysis_figures import abc_figures

                result = calibrate_abc(scenario, targets, out=out_dir, runs=runs, check_runs=check_runs,
                                       max_evaluations=evaluations, population=population, generations=generations,
                                       epsilon=epsilon, seed=seed, predictive_draws=predictive_draws,
                                       resume=resume, backend=backend, workers=workers,
                                       scheduler=scheduler, progress=progress, command=sys.argv,
                                       draw_figures=abc_figures)
            else:
                result = calibrate(scenario, targets, out=out_dir, runs=runs, check_runs=check_runs,
                                   max_evaluations=evaluations, method=method, seed=seed, backend=backend,
                                   workers=workers,
                                   scheduler=scheduler, progress=progress, command=sys.argv)
        if quiet:
            typer.echo(str(result.out_dir))
            return
        values = ", ".join(f"{k} = {v:g}" for k, v in result.parameters.items())
        posterior = getattr(result, "posterior", None)
        if posterior is not None:
            values = ", ".join(f"{row.parameter} = {row.median:g} [{row.ci_low:g}; {row.ci_high:g}]"
                               for row in posterior.summary().itertuples(index=False))
            values += " (posterior median [90 % credible interval])"
        title = (f"{name} calibrated to {result.targets.name}: fit on {result.targets.check_runs} fresh "
                 "replications")
        _print_table(lambda _compact: fit_rich_table(result.fit, title), [
            f"calibrated: {values}",
            f"{int(result.fit['within'].sum())} of {len(result.fit)} targets within tolerance "
            + (f"({result.message})" if posterior is not None else
               f"({len(result.evaluations)} evaluations; {result.message})"),
            *([_predictive_line(result.predictive)] if posterior is not None else []),
            f"output: {result.out_dir}"])


def _predictive_line(predictive: Any) -> str:
    """The posterior predictive check in one line: per target, the share of posterior draws in its band."""
    shares = ", ".join(f"{row.metric} {row.within_share:.0%}" for row in predictive.itertuples(index=False))
    return f"posterior predictive check (draws within each target's band): {shares}"


@app.command("validate-model")
def validate_model_command(
    scenario: ScenarioArg,
    runs: Annotated[int, typer.Option("--runs", "-n", metavar="N",
                                      help="replications per variant (common random numbers)")] = 200,
    seed: Annotated[int | None, typer.Option("--seed", metavar="N", show_default=False,
                                             help="seed of the replications [default: 20180520]")] = None,
    facts: Annotated[list[str] | None, typer.Option("--fact", metavar="NAME", show_default=False,
                                                    help="check only this fact; repeatable")] = None,
    mechanisms_off: Annotated[bool, typer.Option("--mechanisms-off",
                                                 help="switch each fact's mechanism off (the facts should fail)")]
    = False,
    out: Annotated[Path | None, typer.Option("--out", metavar="DIR", show_default=False,
                                             help="also write facts.csv and manifest.json there")] = None,
    sets: SetOpt = None,
    backend: BackendOpt = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Check the stylized facts (exit hazard, ROI of stayers, hunters, interview, contribution rule, synergy)."""
    with _reported_errors():
        backend = _check_experiment_options(runs, None, workers, seed, backend, scheduler, min_runs=2)
        from sim.experiments.stylized import DEFAULT_SEED, check_facts
        from sim.presentation.analysis_tables import facts_rich_table

        with _progress_bar(quiet, f"validate-model {scenario.stem}") as progress:
            result = check_facts(scenario, runs=runs, seed=DEFAULT_SEED if seed is None else seed, facts=facts,
                                 mechanisms_off=mechanisms_off, overrides=parse_sets(sets), backend=backend,
                                 workers=workers, scheduler=scheduler, progress=progress, out=out,
                                 command=sys.argv)
        lines = [f"{result.held} of {len(result.results)} facts hold"
                 + (f" ({result.undecided} cannot be judged: too few runs or years)" if result.undecided else "")]
        if result.out_dir is not None:
            lines.append(f"output: {result.out_dir}")
        if quiet:
            typer.echo(lines[0])
            return
        _print_table(lambda _compact: facts_rich_table(result), lines)


@app.command("sensitivity")
def sensitivity_command(
    experiment_file: Annotated[Path, typer.Argument(
        metavar="EXPERIMENT", show_default=False,
        help="a sensitivity experiment file: parameters with ranges and metrics "
             "(e.g. experiments/sensitivity_bni.yaml)")],
    method: Annotated[str | None, typer.Option("--method", metavar="morris|sobol", show_default=False,
                                               help="Morris screening or Sobol' indices [default: the file's]")]
    = None,
    runs: Annotated[int | None, typer.Option("--runs", "-n", metavar="N", show_default=False,
                                             help="replications per sample point [default: the file's]")] = None,
    out: Annotated[Path | None, typer.Option("--out", metavar="DIR", show_default=False,
                                             help="output folder [default: results/<name>-<method>/]")] = None,
    seed: AnalysisSeedOpt = None,
    sets: ExpSetOpt = None,
    backend: BackendOpt = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    figures: FiguresOpt = True,
    quiet: QuietOpt = False,
) -> None:
    """Global sensitivity analysis with SALib (Morris or Sobol'): ranked parameters per metric.

    Writes samples.csv, indices.csv, manifest.json and sensitivity_<method>.png to the output folder.
    """
    with _reported_errors():
        backend = _check_experiment_options(runs, None, workers, seed, backend, scheduler)
        from sim.experiments.sensitivity import METHODS, analyse, load_sensitivity
        from sim.presentation.analysis_figures import sensitivity_figures
        from sim.presentation.analysis_tables import indices_rich_table

        if method is not None and method not in METHODS:
            raise InputError("--method", repr(method), f"unknown method; use one of: {', '.join(METHODS)}")
        experiment = load_sensitivity(experiment_file, parse_sets(sets))
        chosen = method or experiment.method
        if out is None:
            from sim.experiments.folders import plain_name

            plain_name(experiment.name, experiment_file, "name")
        out_dir = out if out is not None else Path(RESULTS_DIR) / f"{experiment.name}-{chosen}"
        with _progress_bar(quiet, f"sensitivity {experiment.name} ({chosen})") as progress:
            result = analyse(experiment, chosen, runs=runs, seed=seed, backend=backend, workers=workers,
                             scheduler=scheduler, out=out_dir, figures=figures, draw_figures=sensitivity_figures,
                             progress=progress, command=sys.argv)
        if quiet:
            typer.echo(str(result.out_dir))
            return
        top = "; ".join(f"{m}: {', '.join(result.top(m))}" for m in dict.fromkeys(result.indices["metric"]))
        _print_table(lambda _compact: indices_rich_table(result), [f"top drivers: {top}",
                                                                    f"output: {result.out_dir}"])


def main(argv: list[str] | None = None) -> Any:
    """Entry point for `python -m sim` (same as the `clubsim` console script)."""
    return app(args=argv, prog_name="clubsim")


__all__ = ["app", "comparison_table", "main", "parse_sets", "sweep_table"]
