"""Which constraint binds in a run, in words: why a lever can leave the headline where it was.

Read from one run's tables (no re-run, no model logic of its own):

- **the main job's start** (``jobs`` table, ``job_choice`` / ``job_wait`` events, the ``fleet`` table): a job that
  starts on its earliest allowed date on chips its lab already holds cannot be moved by supply, prices or rules
  that act after that date; the runner-up option the engine weighed at the start says how far ahead the chosen
  chip was;
- **what limits each packager's output** (``production`` rows ``assembled=k binding=capacity|dies|hbm``: the
  engine records what stopped each month's packaging plan from assembling one more package, per packager):
  all the capacity used, no line with the dies for another package, or dies without the HBM stacks for them.

:func:`explain_run` gives the sentences for a run; :func:`explain_no_effect` the sentence for a changed lever that
left the headline (the main job's finish date) where it was.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from sim.experiments.options import main_jobs
from sim.schema import Scenario
from sim.units import day_to_date

#: A finish within this many days of the base run's counts as "did not move".
SAME_DAYS = 0.01


@dataclass(frozen=True)
class JobStart:
    """How the main job started: on what, when, against its earliest allowed date, and the runner-up."""

    lab: str
    job: str
    chip: str | None
    chips: int
    owned: int
    rented: int
    start_day: float | None
    finish_day: float | None
    earliest_day: float | None
    held_since_day: float | None  # first month-start the lab held at least the job's owned chips of that chip
    waited: tuple[str, ...] = ()  # job_wait notes before the start
    chosen_days: float | None = None  # the engine's estimate of the chosen option's duration (job_choice)
    runner_up: str | None = None  # the next option the engine weighed, as it describes it

    @property
    def at_earliest(self) -> bool:
        """Whether the job started on its earliest allowed date (or on day 0 without one)."""
        if self.start_day is None:
            return False
        return abs(self.start_day - (self.earliest_day or 0.0)) < 1.0

    @property
    def on_held_chips(self) -> bool:
        """Whether every chip of the job's cluster was owned (none rented)."""
        return self.chips > 0 and self.rented == 0 and self.owned >= self.chips


@dataclass(frozen=True)
class PackagingBinding:
    """What limited one packager's monthly output: months by constraint (capacity, dies, hbm)."""

    packager: str
    name: str  # whose output it is: the vendor of the chips it assembles (or the packager)
    months: int
    by: dict[str, int] = field(default_factory=dict)

    def main(self) -> str:
        """The constraint binding in most months."""
        return max(self.by, key=lambda k: (self.by[k], k)) if self.by else "capacity"


WORDS = {"capacity": "packaging capacity", "dies": "dies", "hbm": "HBM stacks"}


def _date(s: Scenario, day: float | None) -> str:
    d = day_to_date(s.start, day) if day is not None else None
    return d.isoformat() if d is not None else "never"


def _nan(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def job_start(result, scenario: Scenario, lab: str, job: str | None = None) -> JobStart | None:
    """The start of *lab*'s main job (or *job*) in *result*; None when the lab has no such job in the tables."""
    job = job or main_jobs(scenario).get(lab)
    jobs = result.tables["jobs"]
    rows = jobs[(jobs["lab"] == lab) & (jobs["job"] == job)] if len(jobs) else jobs
    if job is None or not len(rows):
        return None
    r = rows.iloc[0]
    spec = scenario.labs[lab].jobs[job]
    earliest = scenario.day_of(spec.earliest_start) if spec.earliest_start is not None else 0.0
    start = None if _nan(r["start_day"]) else float(r["start_day"])
    chip = r["chip"] if isinstance(r["chip"], str) and r["chip"] else None
    owned = int(r["owned_chips"] or 0)
    held = None
    fleet = result.tables["fleet"]
    if chip is not None and owned > 0 and len(fleet):
        mine = fleet[(fleet["owner"] == lab) & (fleet["product"] == chip)].groupby("day")["units"].sum()
        enough = mine[mine >= owned]
        if len(enough) and (start is None or float(enough.index.min()) <= start):
            held = float(enough.index.min())
    events = result.tables["events"]
    waits: tuple[str, ...] = ()
    chosen_days: float | None = None
    runner: str | None = None
    if len(events):
        ev = events[events["actor"] == lab]
        waits = tuple(str(d) for d in ev[(ev["kind"] == "job_wait") & ev["detail"].astype(str).str.startswith(job)
                                         & (ev["day"] <= (start if start is not None else math.inf))]["detail"])
        choice = ev[(ev["kind"] == "job_choice") & ev["detail"].astype(str).str.startswith(f"{job}:")]
        if len(choice):
            text = str(choice.iloc[0]["detail"])
            m = re.search(r"~([\d.]+) d", text.split("|", 1)[0])
            chosen_days = float(m.group(1)) if m else None
            if "| next:" in text:
                runner = text.split("| next:", 1)[1].split(";", 1)[0].strip() or None
    return JobStart(lab, job, chip, int(r["chips"] or 0), owned, int(r["rented_chips"] or 0), start,
                    None if _nan(r["finish_day"]) else float(r["finish_day"]), earliest, held, waits, chosen_days,
                    runner)


def packaging_binding(result, scenario: Scenario) -> list[PackagingBinding]:
    """Per packager that assembled anything: months limited by capacity, dies or HBM stacks.

    The engine records what stopped each month's packaging plan on that month's production rows
    (``assembled=k binding=capacity|dies|hbm``, :func:`sim.engine.mechanisms.supply._binding`).
    """
    prod = result.tables["production"]
    if not len(prod):
        return []
    asm = prod[(prod["item_kind"] == "chip") & prod["detail"].astype(str).str.contains("binding=")]
    out = []
    for pid in sorted(set(asm["node"])):
        mine = asm[asm["node"] == pid]
        by = {"capacity": 0, "dies": 0, "hbm": 0}
        months = 0
        for _day, month in mine.groupby("day"):
            months += 1
            by[str(month["detail"].iloc[0]).split("binding=", 1)[1].split()[0]] += 1
        vendors = sorted({scenario.chips[p].vendor for p in set(mine["product"]) if p in scenario.chips})
        vendor = scenario.nodes.get(vendors[0]) if len(vendors) == 1 else None
        name = (getattr(vendor, "name", None) or vendors[0]) if vendor is not None else pid
        out.append(PackagingBinding(pid, str(name), months, {k: v for k, v in by.items() if v}))
    return out


def packaging_sentence(scenario: Scenario, b: PackagingBinding, not_: str | None = None) -> str:
    """``Huawei output is limited by packaging capacity (in 30 of 36 months with assembly), not dies``."""
    main = b.main()
    rest = [f"{WORDS[k]} in {n}" for k, n in sorted(b.by.items(), key=lambda kv: -kv[1]) if k != main]
    text = (f"{b.name} output ({b.packager}) is limited by {WORDS[main]} "
            f"(in {b.by[main]} of {b.months} months with assembly"
            + (f"; {', '.join(rest)}" if rest else "") + ")")
    if not_ is not None and main != not_:
        text += f", not {WORDS[not_]}"
    return text


def job_sentence(scenario: Scenario, js: JobStart) -> str:
    """How the main job started, and what that means for levers acting after it."""
    lab_chips = f"{js.chips:,} {js.chip}"
    if js.start_day is None:
        return (f"{js.lab}/{js.job} never starts by the horizon ({scenario.end})"
                + (f"; it waited: {js.waited[-1]}" if js.waited else ""))
    start = _date(scenario, js.start_day)
    if js.on_held_chips:
        text = (f"{js.lab}/{js.job} starts on {start} on {lab_chips} {js.lab} already holds"
                + (f" (held since about {_date(scenario, js.held_since_day)})" if js.held_since_day is not None else "")
                + f", so supply after {start} cannot change its finish ({_date(scenario, js.finish_day)})")
        if js.at_earliest:
            text += "; it starts on its earliest allowed date, so nothing can make it start sooner"
        else:
            text += "; only chips arriving sooner could start it earlier"
    else:
        text = (f"{js.lab}/{js.job} starts on {start} on {lab_chips} ({js.owned:,} owned, {js.rented:,} rented)"
                + (", its earliest allowed date" if js.at_earliest else ""))
    if js.runner_up and js.chosen_days is not None:
        text += (f"; the next option the lab weighed was {js.runner_up} against ~{js.chosen_days:.0f} d on "
                 f"{js.chip}, so another chip's supply would have to close that gap to change the choice")
    return text + "."


def explain_run(result, scenario: Scenario, lab: str) -> list[str]:
    """What limits this run, in sentences: the main job's start, and each packager's binding input."""
    out = []
    js = job_start(result, scenario, lab)
    if js is not None:
        out.append(job_sentence(scenario, js))
    for b in packaging_binding(result, scenario):
        out.append(packaging_sentence(scenario, b)[0].upper() + packaging_sentence(scenario, b)[1:] + ".")
    return out


def _finish(result, lab: str, job: str) -> float:
    v = result.kpis.get(f"job_finish_or_horizon_day[{lab}/{job}]", math.nan)
    return float(v) if v is not None else math.nan


def moved(base, edited, scenario: Scenario, lab: str) -> bool:
    """Whether the main job's finish (the headline) moved between the two runs."""
    job = main_jobs(scenario).get(lab)
    if job is None:
        return True
    a, b = _finish(base, lab, job), _finish(edited, lab, job)
    if math.isnan(a) or math.isnan(b):
        return not (math.isnan(a) and math.isnan(b))
    return abs(a - b) > SAME_DAYS


def _reason(scenario: Scenario, path: str, js: JobStart | None, packaging: list[PackagingBinding]) -> str:
    parts = path.split(".")
    job_part = job_sentence(scenario, js).rstrip(".") if js is not None else "the lab's main job is not in the run"
    job_part = job_part[0].lower() + job_part[1:] if job_part else job_part
    if parts[0] == "nodes" and len(parts) > 2:
        node = scenario.nodes.get(parts[1])
        kind = getattr(node, "kind", "")
        not_ = "hbm" if kind == "memory" else "dies" if kind == "foundry" else None
        extra = [packaging_sentence(scenario, b, not_) for b in packaging]
        return "; ".join([job_part, *extra])
    if parts[0] == "rules" and len(parts) > 1:
        rid = parts[1]
        rule = scenario.rules.get(rid)
        text = job_part + "; a rule changes what can be bought or rented, not chips already installed"
        if rule is not None and js is not None and js.finish_day is not None \
                and scenario.day_of(rule.effective) > js.finish_day:
            text += f", and {rid} takes effect on {rule.effective}, after the job finishes"
        return text
    if parts[0] == "labs" and "mfu" in parts and js is not None and js.chip is not None and parts[-1] != js.chip:
        return f"the job runs on {js.chip}, not {parts[-1]}, so the MFU on {parts[-1]} is never used"
    return job_part


def explain_no_effect(base, edited, scenario: Scenario, lab: str, changed: Sequence[tuple[str, str]]) -> list[str]:
    """One sentence per changed lever ``(label, dotted path)`` when the main job's finish did not move; [] when it did.

    *base* is the run of the file as written, *edited* the run with the levers (same seed); *scenario* the edited
    scenario.  E.g. ``SMIC yield moves nothing here: bytedance/llm starts on 2024-10-01 on 16,384 h800 bytedance
    already holds, ...; Huawei output (huawei-pkg) is limited by packaging capacity (in 30 of 36 months ...), not
    dies``.
    """
    if not changed or moved(base, edited, scenario, lab):
        return []
    js = job_start(edited, scenario, lab)
    packaging = packaging_binding(edited, scenario)
    return [f"**{label[0].upper() + label[1:]}** moves nothing here (the finish date is unchanged): "
            f"{_reason(scenario, path, js, packaging)}." for label, path in changed]


__all__ = ["JobStart", "PackagingBinding", "explain_no_effect", "explain_run", "job_sentence", "job_start", "moved",
           "packaging_binding", "packaging_sentence"]
