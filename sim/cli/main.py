"""The ``exportsim`` command line: thin Typer commands over sim's public API."""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sim.cli.common import EXIT_BAD_INPUT, _check_output_dir, _fail, _fmt, _load, _progress_runner, err, out, starting
from sim.scenario.loader import ScenarioError, load_raw, load_scenario

if TYPE_CHECKING:
    from rich.table import Table

#: The app, with the commands defined here; the rest are added by _register_extensions (``app``: all of them).
_app = typer.Typer(
    name="exportsim",
    help=(
        "Simulate the AI-accelerator supply chain under export controls: chips made, ordered, "
        "licensed or denied, smuggled, rented abroad, and turned into training runs."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
DEFAULT_CATALOG = Path("scenarios/_catalog/chips.yaml")
ESTIMATOR = ("mean paired difference over R replications with common random numbers; 95 % Student-t interval of "
             "that mean clipped to the KPI's range; 10th/90th percentiles of the paired differences "
             "(sim.experiments.estimate)")


@_app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Scenario files to check.")],
) -> None:
    """Check scenario files: prints 'ok FILE' for each valid one, one line per problem otherwise (exit 2)."""
    bad = False
    for f in files:
        try:
            if _is_observables(f):
                from sim.experiments.backtest import load_observed

                load_observed(f)
            else:
                load_scenario(f)
        except ScenarioError as e:
            bad = True
            for p in e.problems:
                err.print(str(p), markup=False, highlight=False, soft_wrap=True)
            continue
        out.print(f"ok {f}", markup=False, highlight=False)
    if bad:
        raise typer.Exit(EXIT_BAD_INPUT)


def _is_observables(path: Path) -> bool:
    """Whether *path* is a file of published observables (top-level ``observables:``) rather than a scenario."""
    try:
        data, _ = load_raw(path)
    except ScenarioError:
        return False
    return "observables" in data and "question" not in data


@_app.command()
def schema() -> None:
    """Print the JSON Schema of the scenario format (point your editor's YAML plugin at it)."""
    from sim.schema import Scenario

    sys.stdout.write(json.dumps(Scenario.model_json_schema(by_alias=True), indent=2) + "\n")


@_app.command()
def chips(
    file: Annotated[Path, typer.Argument(help="A scenario or a chips catalogue fragment.")] = DEFAULT_CATALOG,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the chip catalogue with the figures export rules use: TPP and performance density."""
    from sim.scenario.catalog import chip_table, read_chips

    try:
        catalogue = read_chips(file, load_raw)
    except ScenarioError as e:
        _fail(e.problems)
    rows = chip_table(catalogue)
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
        return
    from rich.table import Table

    t = Table(title=f"Chip catalogue ({file})")
    for col in ("id", "name", "vendor", "release", "bf16 TFLOPS", "TPP", "PD", "mem TB/s", "I/O GB/s", "price USD"):
        t.add_column(col, justify="right" if col not in ("id", "name", "vendor") else "left")
    for r in rows:
        t.add_row(r["id"], r["name"], r["vendor"], str(r["release"]), f"{r['bf16_tflops']:g}", f"{r['tpp']:,.0f}",
                  f"{r['pd']:.2f}", f"{r['hbm_tb_s']:g}", f"{r['interconnect_gb_s']:g}", f"{r['price_usd']:,.0f}")
    out.print(t)


def _pairs(title: str, headers: tuple[str, str], rows: list[tuple[str, str]]) -> Table:
    """A two-column table: a name and a right-aligned value."""
    from rich.table import Table

    t = Table(title=title)
    t.add_column(headers[0])
    t.add_column(headers[1], justify="right")
    for name, value in rows:
        t.add_row(name, value)
    return t


@_app.command()
def graph(
    file: Annotated[Path, typer.Argument(help="Scenario file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Summarise the supplier network: nodes and edges by kind, central nodes, chokepoints per lab."""
    from sim.scenario.network import summary

    s = _load(file)
    info = summary(s)
    if as_json:
        sys.stdout.write(json.dumps(info, indent=2) + "\n")
        return
    out.print(f"[bold]{info['scenario']}[/]: {info['nodes']} nodes, {info['edges']} edges")
    out.print(_pairs("Nodes by kind", ("kind", "count"), [(k, str(v)) for k, v in info["nodes_by_kind"].items()]))
    out.print(_pairs("Edges by flow/channel", ("flow/channel", "count"),
                     [(k, str(v)) for k, v in info["edges_by_flow_channel"].items()]))
    out.print(_pairs("Most central nodes (betweenness)", ("node", "betweenness"),
                     [(k, f"{v:.3f}") for k, v in list(info["betweenness"].items())[:8]]))
    for lab, cut in info["chokepoints"].items():
        out.print(f"chokepoints for [bold]{lab}[/]: {', '.join(cut) if cut else 'none (no single node cuts it off)'}")
    for issue in info["issues"]:
        out.print(f"[yellow]warning[/] {issue}")


@_app.command()
def run(
    file: Annotated[Path, typer.Argument(help="Scenario file.")],
    seed: Annotated[int | None, typer.Option(min=0, max=2**63 - 1,
                                             help="Random seed (default: the scenario's).")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Write every table to this folder.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Table format for --out: parquet or csv.")] = "parquet",
    as_json: Annotated[bool, typer.Option("--json", help="Print the KPIs as JSON.")] = False,
    posterior: Annotated[Path | None, typer.Option("--posterior", help="Take the calibrated inputs from this "
                                                                       "calibration store (one posterior draw).")]
    = None,
    draw: Annotated[int, typer.Option("--draw", min=0, help="Which posterior draw (with --posterior).")] = 0,
) -> None:
    """Run a scenario once: KPIs (deliveries by origin, denials by rule, job finish days, ...) and tables."""
    if fmt not in ("parquet", "csv"):
        _fail([f"--format: must be parquet or csv, got '{fmt}'"])
    with starting():
        from sim.results.result import kpis_json
        from sim.results.simulation import Simulation

        s = _load(file)
    if posterior is not None:
        from sim.cli.calibrate import load_posterior, note_posterior
        from sim.experiments.posterior import apply_draw

        post = load_posterior(posterior)
        s, values, missing = apply_draw(s, post, draw, seed if seed is not None else s.seed)
        note_posterior(post, missing, f"inputs (draw {draw}: " + ", ".join(f"{k}={v:.4g}" for k, v in values.items())
                       + ")")
    if out_dir is not None:
        _check_output_dir(out_dir, "--out")  # before the run, not after it
    with _progress_runner(f"running {s.name}") as bar:
        task = bar.add_task("run", total=s.horizon_days)
        result = Simulation(s, seed).run(progress=lambda day, total: bar.update(task, completed=day))
    if out_dir is not None:
        try:
            result.save(out_dir, fmt)
        except OSError as e:
            _fail([f"{out_dir}: cannot write: {e.strerror or e}"])  # nothing was left behind (staged writes)
    if as_json:
        sys.stdout.write(kpis_json(result.kpis) + "\n")
        return
    from rich.table import Table
    from rich.text import Text

    t = Table(title=f"{s.name} (seed {result.seed})")
    t.add_column("KPI")
    t.add_column("value", justify="right")
    t.add_column("date", justify="right")
    for k, v in result.kpis.items():
        date = result.date_of(v) if "_day[" in k and v == v else None
        t.add_row(Text(k), _fmt(v), str(date) if date else "")
    out.print(t)
    if out_dir is not None:
        out.print(f"tables written to {out_dir}/ ({fmt})")


@_app.command()
def compare(
    file: Annotated[Path, typer.Argument(help="Scenario file (the policy world).")],
    against: Annotated[Path | None, typer.Option("--against", help="Another scenario as the counterfactual.")] = None,
    without_rules: Annotated[bool, typer.Option("--without-rules", help="Counterfactual: no rules at all.")] = False,
    without: Annotated[list[str] | None,
                       typer.Option("--without", help="Counterfactual: drop this rule (repeatable).")] = None,
    seed: Annotated[int | None, typer.Option(min=0, max=2**63 - 1,
                                             help="First seed (default: the scenario's).")] = None,
    replications: Annotated[int, typer.Option(min=1, max=10_000, help="Paired replications.")] = 10,
    kpi: Annotated[list[str] | None, typer.Option("--kpi", help="Only KPIs containing this text (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    posterior: Annotated[Path | None, typer.Option("--posterior", help="Calibrated inputs from this calibration "
                                                                       "store: replication r uses posterior draw r "
                                                                       "in both worlds.")] = None,
) -> None:
    """Compare a scenario with its counterfactual: common random numbers, mean paired differences, 95 % CIs."""
    import math

    from sim.experiments.compare import compare as run_compare
    from sim.experiments.compare import without_rules as drop_rules

    chosen = sum([against is not None, without_rules, bool(without)])
    if chosen != 1:
        _fail(["compare: give exactly one of --against FILE, --without-rules, --without RULE"])
    base = _load(file)
    if against is not None:
        cf = _load(against)
    else:
        try:
            cf = drop_rules(base, None if without_rules else list(without or []))
        except KeyError as e:
            _fail([f"{file}:1: rules: {e.args[0]}"])
    post = None
    if posterior is not None:
        from sim.cli.calibrate import load_posterior

        post = load_posterior(posterior)
    with _progress_runner(f"{replications} paired replications") as bar:
        task = bar.add_task("compare", total=replications)
        if post is None:
            rows = run_compare(base, cf, replications, seed, progress=lambda i, n: bar.update(task, completed=i))
        else:
            from sim.cli.calibrate import note_posterior
            from sim.experiments.posterior import compare_on_posterior

            rows, _, missing = compare_on_posterior(base, cf, post, replications, seed,
                                                    progress=lambda i, n: bar.update(task, completed=i))
            note_posterior(post, missing, "inputs of both worlds (draw r in replication r)")
    if kpi:
        rows = [r for r in rows if any(x in r.kpi for x in kpi)]
    if as_json:
        import dataclasses
        import json

        clean = lambda v: None if isinstance(v, float) and math.isnan(v) else v  # noqa: E731
        payload = {"base": base.name, "counterfactual": cf.name, "replications": replications,
                   "estimator": ESTIMATOR,
                   **({"posterior": {"store": str(post.root), "name": post.name, "model": post.fingerprint}}
                      if post is not None else {}),
                   "kpis": [{k: clean(v) for k, v in dataclasses.asdict(r).items()} for r in rows]}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    from rich.table import Table
    from rich.text import Text

    on = f"; inputs from the {post.name} posterior" if post is not None else ""
    t = Table(title=f"{base.name}  vs  {cf.name}  (R = {replications} paired replications{on})",
              caption="difference: mean over the pairs; 95% CI: t interval of that mean, clipped to the KPI's "
                      "range; 10-90%: spread of the paired differences; R: pairs with the KPI")
    for col in ("KPI", "base", "counterfactual", "difference", "95% CI", "10-90% of pairs", "R"):
        t.add_column(col, justify="left" if col == "KPI" else "right")
    for r in rows:
        if r.base_mean == r.counterfactual_mean and r.diff_mean == 0:
            continue
        ci = "-" if math.isnan(r.diff_ci_low) else f"[{_fmt(r.diff_ci_low)}, {_fmt(r.diff_ci_high)}]"
        spread = "-" if math.isnan(r.diff_p10) else f"[{_fmt(r.diff_p10)}, {_fmt(r.diff_p90)}]"
        t.add_row(Text(r.kpi), _fmt(r.base_mean), _fmt(r.counterfactual_mean), _fmt(r.diff_mean), ci, spread,
                  str(r.n_pairs))
    out.print(t)


@_app.command()
def dashboard(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port on 127.0.0.1.")] = 8501,
) -> None:
    """Open the Streamlit dashboard (edit, run, compare, network view) on http://127.0.0.1:PORT."""
    entry = Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py"
    if not entry.exists():
        _fail([f"{entry}: the dashboard is not in this installation (it ships with the source tree)"])
    cmd = [sys.executable, "-m", "streamlit", "run", str(entry), "--server.headless", "true",
           "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
           "--server.maxUploadSize", "1"]
    out.print(f"exportsim dashboard on http://127.0.0.1:{port} (Ctrl-C to stop)")
    sys.stdout.flush()
    sys.stderr.flush()
    # exec, not a child: the process that started `exportsim dashboard` holds Streamlit's pid, so SIGTERM or
    # SIGINT stops the server itself (a child would be left running when this process is killed)
    os.chdir(entry.parent.parent)
    os.execv(sys.executable, cmd)


#: The commands defined in this module (the core: validate, run, compare, ...).
CORE_COMMANDS = frozenset(c.name or typer.main.get_command_name(c.callback.__name__)  # type: ignore[union-attr]
                          for c in _app.registered_commands)
_extended = False


def _register_extensions() -> None:
    """Commands that live in their own modules (scenario library, sweeps), added once."""
    global _extended
    if _extended:
        return
    _extended = True
    from sim.cli.library import register as library_commands

    library_commands(_app)
    from sim.cli.brief import register as brief_commands
    from sim.cli.calibrate import register as calibrate_commands
    from sim.cli.chokepoints import register as chokepoint_commands
    from sim.cli.options import register as options_commands
    from sim.cli.sweep import register as sweep_commands

    options_commands(_app)
    sweep_commands(_app)
    calibrate_commands(_app)
    chokepoint_commands(_app)
    brief_commands(_app)


def __getattr__(name: str) -> typer.Typer:
    """``app``: the exportsim app with every command (PEP 562: the extension modules load when it is asked for)."""
    if name == "app":
        _register_extensions()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _app_for(args: list[str]) -> typer.Typer:
    """The app that runs the command line *args*: when it names a core command, the core commands alone (that
    command parses, runs and reports exactly as in the full app, and the other modules' imports and Click
    conversions, ~20 ms of a short command's start-up, are skipped); otherwise every command (help, listings,
    suggestions for a mistyped name)."""
    if not (args and args[0] in CORE_COMMANDS):
        _register_extensions()
    return _app


def main() -> None:
    """Console-script entry point: bad input exits 2 with one line per problem; a bug exits 1 with one line;
    Ctrl-C exits 130 with one line at any moment; an unwritable standard output (a full disk, /dev/full) exits 2
    with one line, a closed pipe (``| head``) quietly.  Warnings from numerical libraries are never printed."""
    import os
    import signal
    import warnings

    debug = bool(os.environ.get("EXPORTSIM_DEBUG"))
    if not debug:
        warnings.simplefilter("ignore")  # numpy/scipy RuntimeWarnings would land among the problem lines
    code = 0
    try:
        try:
            # Typer: usage errors framed (exit 2); Ctrl-C inside a command exits 130
            _app_for(sys.argv[1:])(standalone_mode=True)
        finally:
            sys.stdout.flush()  # a full device fails here, not in the interpreter's exit
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if code == 130:
            _say("interrupted")
    except KeyboardInterrupt:
        code = 130
        _say("interrupted")
    except OSError as e:
        if not _is_stdout_error(e):
            code = _internal(e, debug)
        elif e.errno == errno.EPIPE:
            code = 141  # like a shell: 128 + SIGPIPE, nothing printed
        else:
            _say(f"exportsim: cannot write to standard output: {e.strerror or e}")
            code = EXIT_BAD_INPUT
    except Exception as e:  # a bug, not bad input: one line unless debugging
        if _caused_by_interrupt(e):  # e.g. pybind11's ImportError for a Ctrl-C in an extension's start-up
            code = 130
            _say("interrupted")
        else:
            code = _internal(e, debug)
    from sim.cli.interrupts import release_held_interrupt

    if release_held_interrupt() and code != 130:  # a Ctrl-C held in an import that ended the command: still one
        code = 130
        _say("interrupted")
    if code in (130, 141, EXIT_BAD_INPUT):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C while we leave stays quiet too
        _quiet_stdout()  # the interpreter's final flush of a broken stdout must print nothing
    raise SystemExit(code)


def _caused_by_interrupt(e: BaseException) -> bool:
    """Whether a KeyboardInterrupt is among the exceptions *e* was raised from or while handling."""
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, KeyboardInterrupt):
            return True
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return False


def _internal(e: BaseException, debug: bool) -> int:
    if debug:
        raise e
    _say(" ".join(f"exportsim: internal error: {type(e).__name__}: {e} (set EXPORTSIM_DEBUG=1 for details)".split()))
    return 1


def _say(line: str) -> None:
    """One line on stderr, never wrapped, whatever the terminal width."""
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except OSError:
        pass


def _is_stdout_error(e: OSError) -> bool:
    """Whether *e* came from writing standard output: a stream error (no file name) of the kinds a full or
    closed output gives.  File writes name their file (and ``--out``/``--store`` report their own errors)."""
    return e.filename is None and e.errno in (errno.EPIPE, errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG)


def _quiet_stdout() -> None:
    """Point fd 1 at /dev/null so the interpreter's final flush of a broken stdout prints nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":
    main()
