"""Strategy briefings: decision documents generated from runs, comparisons and sweeps.

``model`` (variants, facts, the ledger, charts) <- ``collect`` (run or read what a target needs) <-
``sections`` (what the document says, as blocks of text and facts) <- ``render`` (templates in
``templates/`` -> Markdown, HTML, PDF; :func:`brief` in one call).  The public names are re-exported here.
"""

from sim.reports.briefing.collect import collect, default_options, primary_job, read_sources
from sim.reports.briefing.model import AUDIENCES, FORMATS, BriefingData, BriefingError, Chart, Fact, Ledger, Variant
from sim.reports.briefing.render import Briefing, brief, build, render_pngs, reproduce_command, scenario_hash, write
from sim.reports.formatting import format_value

__all__ = [
    "AUDIENCES", "FORMATS", "Briefing", "BriefingData", "BriefingError", "Chart", "Fact", "Ledger", "Variant", "brief",
    "build", "collect", "default_options", "format_value", "primary_job", "read_sources", "render_pngs",
    "reproduce_command", "scenario_hash", "write",
]
