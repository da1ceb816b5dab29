"""A built briefing (facts, template context, charts) rendered to Markdown, HTML or PDF; ``brief`` in one call."""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import os
import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim._version import __version__
from sim.reports.briefing.collect import _shown, collect
from sim.reports.briefing.decision import build_decision, study_value, tipping_value
from sim.reports.briefing.model import (
    FORMATS,
    REPO,
    BriefingData,
    BriefingError,
    Chart,
    Fact,
    Ledger,
    Progress,
    _modal_chip,
    _stat,
)
from sim.reports.briefing.sections import build_compare, build_sweep
from sim.scenario.canonical import scenario_hash
from sim.schema import Scenario


@dataclass
class Briefing:
    """A built briefing: its data, ledger, template context and charts; render with :meth:`render`."""

    data: BriefingData
    ledger: Ledger
    context: dict
    charts: list[Chart]
    _png: dict[str, bytes] | None = None
    _png_error: str | None = None

    @property
    def facts(self) -> dict[str, Fact]:
        """Name -> :class:`Fact`."""
        return self.ledger.facts

    # ---------------------------------------------------------------- provenance check
    def recompute(self, fact: Fact) -> Any:
        """The fact's value recomputed from the runs (or store, comparison, backtest) it names."""
        p, d = fact.prov, self.data
        if fact.kind == "run":
            return _stat(d.variants[p["variant"]].values(p["kpi"], p.get("censor")), p["stat"], p["kpi"])
        if fact.kind == "paired":
            a = np.array(d.variants[p["variant"]].values(p["kpi"], p.get("censor")))
            b = np.array(d.variants[p["minus"]].values(p["minus_kpi"], p.get("censor"))[: len(a)])
            return _stat(a - b, p["stat"], p["kpi"], paired=True)
        if fact.kind == "study":
            assert d.options_study is not None
            return study_value(d.options_study, p)
        if fact.kind == "tipping":
            assert d.sensitivity is not None
            return tipping_value(d.sensitivity, p)
        if fact.kind == "runtext":
            return _modal_chip(d.variants[p["variant"]])
        if fact.kind == "swing":
            hi, lo = self.recompute(self.facts[p["high"]]), self.recompute(self.facts[p["low"]])
            return abs(hi - lo) if math.isfinite(hi) and math.isfinite(lo) else math.nan
        if fact.kind == "compare":
            assert d.compare_payload is not None
            row = next(r for r in d.compare_payload["kpis"] if r["kpi"] == p["kpi"])
            v = row[p["field"]]
            return math.nan if v is None else v
        if fact.kind == "backtest":
            assert d.backtest is not None
            row = next(r for r in d.backtest if r.observable == p["observable"])
            return getattr(row, p["field"])
        if fact.kind == "sweep" and "stat" in p:
            assert d.sweep is not None
            outputs = d.sweep["outputs"]
            inputs = d.sweep["inputs"]
            if p.get("where"):
                mask = np.ones(len(inputs), bool)
                for col, val in p["where"].items():
                    mask &= inputs[col].astype(str).to_numpy() == str(val)
                return _stat(outputs[p["kpi"]].to_numpy(dtype=float)[mask], p["stat"], p["kpi"])
            return _stat(outputs[p["kpi"]].to_numpy(dtype=float), p["stat"], p["kpi"])
        return fact.value

    def ledger_json(self) -> dict:
        """The ledger, JSON-ready: ``facts`` (value, text, provenance) and the ``variants`` they name, each with
        its scenario name, seeds and run ids (a run statistic over *n* runs uses the first *n*)."""
        variants = {k: {"label": v.label, "role": v.role, "scenario": v.scenario.name, "file": v.file,
                        "seeds": v.seeds, "run_ids": v.run_ids} for k, v in self.data.variants.items()}
        return {"target": self.data.target, "kind": self.data.kind, "variants": variants,
                "facts": self.ledger.to_json()}

    # ---------------------------------------------------------------- charts
    def static_charts(self) -> tuple[dict[str, bytes], str | None]:
        """PNG bytes per chart, all in one batched kaleido call (cached); ({}, reason) when unavailable."""
        if self._png is None:
            self._png, self._png_error = render_pngs(self.charts)
        return self._png, self._png_error

    # ---------------------------------------------------------------- output
    def render(self, fmt: str, stem: str = "briefing") -> dict[str, bytes]:
        """The document as files, name -> bytes: ``stem.md`` (+ ``stem_files/*.png``), ``stem.html``, ``stem.pdf``."""
        if fmt not in FORMATS:
            raise BriefingError([f"--format: must be html, pdf or md, got '{fmt}'"])
        if fmt == "md":
            pngs, why = self.static_charts()
            files_dir = f"{stem}_files"
            charts = {c.name: {"name": c.name, "title": c.title, "src": f"{files_dir}/{c.name}.png"}
                      for c in self.charts if c.name in pngs}
            text = _template("briefing.md.j2").render(**self.context, charts_by_name=charts,
                                                      charts_missing=self._missing(why), F=_md_fact,
                                                      facts_file=f"{files_dir}/facts.json")
            out = {f"{stem}.md": text.encode()}
            for c in self.charts:
                if c.name in pngs:
                    out[f"{files_dir}/{c.name}.png"] = pngs[c.name]
            out[f"{files_dir}/facts.json"] = json.dumps(self.ledger_json(), indent=1).encode()
            return out
        if fmt == "html":
            return {f"{stem}.html": self.html(static=False).encode()}
        return {f"{stem}.pdf": self.pdf()}

    def markdown(self) -> str:
        """The Markdown text alone (chart links point at ``briefing_files/``)."""
        return self.render("md")["briefing.md"].decode()

    def html(self, static: bool = False) -> str:
        """Self-contained HTML: interactive charts with plotly.js inline, or static PNGs (*static*, for PDF)."""
        charts, why, plotlyjs = [], None, None
        if static:
            pngs, why = self.static_charts()
            for c in self.charts:
                if c.name in pngs:
                    charts.append({"name": c.name, "title": c.title,
                                   "img": "data:image/png;base64," + base64.b64encode(pngs[c.name]).decode()})
        else:
            import plotly.io as pio
            from plotly.offline import get_plotlyjs

            plotlyjs = get_plotlyjs()
            for c in self.charts:
                div = pio.to_html(c.figure, full_html=False, include_plotlyjs=False, div_id=f"chart-{c.name}",
                                  config={"displaylogo": False, "responsive": True})
                charts.append({"name": c.name, "title": c.title, "div": div})
        from markupsafe import Markup

        missing = self._missing(why)
        facts_json = json.dumps(self.ledger_json()).replace("</", "<\\/")
        by_name = {c["name"]: dict(c, div=Markup(c["div"])) if "div" in c else c for c in charts}
        return _template("briefing.html.j2").render(
            **self.context, charts_by_name=by_name, charts_missing=missing, static=static,
            plotlyjs=Markup(plotlyjs) if plotlyjs else None, facts_json=Markup(facts_json), F=_html_fact)

    def _missing(self, why: str | None) -> Fact | None:
        if not why:
            return None
        return self.ledger.text("charts.missing", why, "setting", what="why the static charts are missing")

    def page_count(self) -> tuple[int, int]:
        """(body pages, all pages) of the PDF: the body ends where the first appendix section starts."""
        doc = self._document()
        first = next((s["id"] for s in self.context["sections"] if s.get("appendix")), "ledger")
        at = next((i for i, page in enumerate(doc.pages) if first in page.anchors), len(doc.pages))
        return at, len(doc.pages)

    def _document(self):
        try:
            import weasyprint
        except (ImportError, OSError) as e:
            raise BriefingError([f"--format pdf: needs weasyprint ({type(e).__name__}: {e}); "
                                 "pip install weasyprint, or use --format html"]) from None
        import logging

        logging.getLogger("weasyprint").setLevel(logging.ERROR)
        logging.getLogger("fontTools").setLevel(logging.ERROR)
        return weasyprint.HTML(string=self.html(static=True), base_url=str(REPO)).render()

    def pdf(self) -> bytes:
        """PDF through weasyprint from the static HTML (charts as PNG; a note instead when unavailable)."""
        return self._document().write_pdf()


def _md_fact(f: Fact | str) -> str:
    return f.text if isinstance(f, Fact) else str(f)


def _html_fact(f: Fact | str):
    from markupsafe import Markup, escape

    if not isinstance(f, Fact):
        return escape(str(f))
    if f.kind == "label":  # dotted paths and ids: let the browser break long ones after . _ /
        return Markup('<span data-fact="{}">{}</span>').format(f.name, Markup("\u200b").join(
            escape(x) for x in re.split(r"(?<=[._/])", f.text)))
    if f.kind in ("scenario", "sources", "setting") and f.fmt == "text":
        return Markup('<span data-fact="{}">{}</span>').format(f.name, f.text)
    return Markup('<span class="fact" data-fact="{}" title="{}">{}</span>').format(f.name, f.describe(), f.text)


_ENV = None


def _template(name: str):
    global _ENV
    if _ENV is None:
        from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

        _ENV = Environment(loader=PackageLoader("sim.reports.briefing", "templates"),
                           autoescape=select_autoescape(enabled_extensions=("html", "html.j2"),
                                                        default_for_string=False),
                           undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                           keep_trailing_newline=True)
    return _ENV.get_template(name)


def render_pngs(charts: list[Chart]) -> tuple[dict[str, bytes], str | None]:
    """Every chart as PNG in one batched kaleido call; ({}, one-line reason) when that cannot work."""
    if not charts:
        return {}, None
    if os.environ.get("EXPORTSIM_NO_STATIC_CHARTS"):
        return {}, "static charts are switched off (EXPORTSIM_NO_STATIC_CHARTS)"
    try:
        import plotly.io as pio

        with tempfile.TemporaryDirectory(prefix="exportsim-charts-") as tmp:
            paths = [Path(tmp) / f"{c.name}.png" for c in charts]
            pio.write_images([c.figure for c in charts], paths, width=[c.width for c in charts],
                             height=[c.height for c in charts], scale=2)
            return {c.name: p.read_bytes() for c, p in zip(charts, paths, strict=True)}, None
    except Exception as e:  # noqa: BLE001 - no browser, no kaleido, a kaleido bug: charts are optional
        msg = " ".join(str(e).split()).split(". ")[0].rstrip(".")
        return {}, f"static charts unavailable ({type(e).__name__}: {msg[:160]})"


def _code_version() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=REPO, capture_output=True, text=True,
                             timeout=5)
        if rev.returncode != 0:
            return __version__
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return f"{__version__} (git {rev.stdout.strip()}{', with uncommitted changes' if dirty else ''})"
    except (OSError, subprocess.SubprocessError):
        return __version__


def build(data: BriefingData, command: str | None = None) -> Briefing:
    """Facts, template context and charts for *data*."""
    s = data.scenario
    ctx = {"start": s.start if s else dt.date(2000, 1, 1), "horizon_days": s.horizon_days if s else math.inf}
    ledger = Ledger(ctx)
    builder = {"scenario": build_decision, "compare": build_compare, "sweep": build_sweep}[data.kind]
    context, charts = builder(data, ledger)
    for c in charts:  # axis labels inside the picture, in the HTML as in the PNGs
        c.figure.update_xaxes(automargin=True)
        c.figure.update_yaxes(automargin=True)
        c.figure.update_layout(margin={"autoexpand": True})
    L = ledger
    repro: dict[str, Any] = {
        "command": L.text("repro.command", command or reproduce_command(data), "setting", what="the command line"),
        "version": L.text("repro.version", _code_version(), "setting", what="sim.__version__ and git HEAD"),
        "hash": L.text("repro.hash", scenario_hash(s), "setting", what="sha256 of the scenario as canonical JSON")
        if s is not None else None,
    }
    repro.update(seeds=None, runs=None)
    if data.kind == "scenario":
        seeds = sorted({s for v in data.variants.values() for s in v.seeds})
        repro["seeds"] = [L.add("repro.seed_first", seeds[0], "int", "setting", what="first seed"),
                          L.add("repro.seed_last", seeds[-1], "int", "setting", what="last seed")] if seeds else None
        repro["runs"] = L.add("repro.runs", sum(len(v.kpis) for v in data.variants.values()), "int", "setting",
                              what="simulation runs behind this briefing") if data.variants else None
    if isinstance(context["title"], Fact):
        context["title"] = [context["title"]]
    context.setdefault("question", None)
    context["title_text"] = "".join(p.text if isinstance(p, Fact) else str(p) for p in context["title"])
    context["short_name"] = s.name if s is not None else data.target
    context["ledger_title"] = ("Appendix C: where each number comes from" if data.kind == "scenario"
                               else "Appendix: where each number comes from")
    context.update(repro=repro, audience=data.audience, kind=data.kind)
    context["ledger"] = ledger
    return Briefing(data, ledger, context, charts)


def reproduce_command(data: BriefingData, target: str | None = None) -> str:
    """The ``exportsim brief`` line that makes this briefing again, every default spelled out; *target* names the
    scenario file when it is not ``data.target`` (a dashboard edit saved under a new name)."""
    parts = ["exportsim", "brief", target or data.target, "--audience", data.audience]
    if data.kind == "scenario":
        parts += ["--replications", str(data.replications), "--seed", str(data.seed)]
        for f in data.option_files:
            parts += ["--option", _shown(f)]
        if data.posterior is not None:
            parts += ["--posterior", data.posterior["store"]]
    return " ".join(parts)


def brief(
    target: str | Path | Scenario,
    fmt: str = "html",
    audience: str = "policy",
    replications: int = 10,
    seed: int | None = None,
    out: str | Path | None = None,
    options: Sequence[str | Path] | None = None,
    progress: Progress | None = None,
    scenario_file: str | Path | None = None,
) -> dict[Path, bytes] | Briefing:
    """Build a briefing and write it: returns {path written: bytes}; with *out* None, the :class:`Briefing`."""
    if fmt not in FORMATS:
        raise BriefingError([f"--format: must be html, pdf or md, got '{fmt}'"])
    data = collect(target, audience, replications, seed, options, progress, scenario_file)
    cmd = reproduce_command(data) + f" --format {fmt}" + (f" --out {out}" if out is not None else "")
    b = build(data, cmd)
    if out is None:
        return b
    out = Path(out)
    files = b.render(fmt, out.stem)
    return dict(zip(write(files, out, fmt), files.values(), strict=True))


def write(files: dict[str, bytes], out: Path, fmt: str) -> list[Path]:
    """Write :meth:`Briefing.render` output: the document at *out*, companions (charts, ledger) beside it."""
    out = Path(out)
    written = []
    for name, blob in files.items():
        p = out if name == f"{out.stem}.{fmt}" else out.parent / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(blob)
        written.append(p)
    return written
