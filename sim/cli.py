"""The ``exportsim`` command line: thin Typer commands over sim's public API."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sim.loader import ScenarioError, load_raw, load_scenario

app = typer.Typer(
    name="exportsim",
    help=(
        "Simulate the AI-accelerator supply chain under export controls: chips made, ordered, "
        "licensed or denied, smuggled, rented abroad, and turned into training runs."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

EXIT_BAD_INPUT = 2
DEFAULT_CATALOG = Path("scenarios/_catalog/chips.yaml")


def _fail(problems: list) -> None:
    for p in problems:
        err.print(str(p), markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _load(path: Path):
    try:
        return load_scenario(path)
    except ScenarioError as e:
        _fail(e.problems)


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Scenario files to check.")],
) -> None:
    """Check scenario files: prints 'ok FILE' for each valid one, one line per problem otherwise (exit 2)."""
    bad = False
    for f in files:
        try:
            load_scenario(f)
        except ScenarioError as e:
            bad = True
            for p in e.problems:
                err.print(str(p), markup=False, highlight=False, soft_wrap=True)
            continue
        out.print(f"ok {f}", markup=False, highlight=False)
    if bad:
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the scenario format (point your editor's YAML plugin at it)."""
    from sim.schema import Scenario

    sys.stdout.write(json.dumps(Scenario.model_json_schema(by_alias=True), indent=2) + "\n")


@app.command()
def chips(
    file: Annotated[Path, typer.Argument(help="A scenario or a chips catalogue fragment.")] = DEFAULT_CATALOG,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the chip catalogue with the figures export rules use: TPP and performance density."""
    from sim.catalog import chip_table, read_chips

    try:
        catalogue = read_chips(file, load_raw)
    except ScenarioError as e:
        _fail(e.problems)
    rows = chip_table(catalogue)
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
        return
    t = Table(title=f"Chip catalogue ({file})")
    for col in ("id", "name", "vendor", "release", "bf16 TFLOPS", "TPP", "PD", "mem TB/s", "I/O GB/s", "price USD"):
        t.add_column(col, justify="right" if col not in ("id", "name", "vendor") else "left")
    for r in rows:
        t.add_row(r["id"], r["name"], r["vendor"], str(r["release"]), f"{r['bf16_tflops']:g}", f"{r['tpp']:,.0f}",
                  f"{r['pd']:.2f}", f"{r['hbm_tb_s']:g}", f"{r['interconnect_gb_s']:g}", f"{r['price_usd']:,.0f}")
    out.print(t)


@app.command()
def graph(
    file: Annotated[Path, typer.Argument(help="Scenario file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Summarise the supplier network: nodes and edges by kind, central nodes, chokepoints per lab."""
    from sim.network import summary

    s = _load(file)
    info = summary(s)
    if as_json:
        sys.stdout.write(json.dumps(info, indent=2) + "\n")
        return
    out.print(f"[bold]{info['scenario']}[/]: {info['nodes']} nodes, {info['edges']} edges")
    t = Table(title="Nodes by kind")
    t.add_column("kind")
    t.add_column("count", justify="right")
    for k, v in info["nodes_by_kind"].items():
        t.add_row(k, str(v))
    out.print(t)
    t = Table(title="Edges by flow/channel")
    t.add_column("flow/channel")
    t.add_column("count", justify="right")
    for k, v in info["edges_by_flow_channel"].items():
        t.add_row(k, str(v))
    out.print(t)
    t = Table(title="Most central nodes (betweenness)")
    t.add_column("node")
    t.add_column("betweenness", justify="right")
    for k, v in list(info["betweenness"].items())[:8]:
        t.add_row(k, f"{v:.3f}")
    out.print(t)
    for lab, cut in info["chokepoints"].items():
        out.print(f"chokepoints for [bold]{lab}[/]: {', '.join(cut) if cut else 'none (no single node cuts it off)'}")
    for issue in info["issues"]:
        out.print(f"[yellow]warning[/] {issue}")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
