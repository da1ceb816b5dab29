"""Training jobs: assemble a cluster, make progress, lose work to failures, finish (or not).

Mechanism: a job needs C FLOP (given, or 6 N D, facts T10) on one chip type.  From its earliest start
it tries, in its chip preference order, to assemble between ``cluster_size.min`` and ``.max``
accelerators by its sourcing policy: ``own`` (idle chips of the lab's fleet, after inference), ``rent``
(a cloud region reachable by a rental edge or listed in ``clouds``; remote-access rules apply),
``own_then_rent`` (own chips topped up by renting the same type), ``cheapest`` (renting when the rental
price per GPU-hour is below the owned chip's amortised cost, else own first).  If it cannot, it waits for
the lab's fleet to change (or a month) and tries again.

Running, it progresses at n x dense peak (job precision) x MFU, where MFU is drawn once per job from
the job's distribution for that chip (facts T1 T3 T4) and falls by ``mfu_loss_per_doubling`` per doubling
above ``mfu_reference_chips``.  Job-interrupting failures arrive as a Poisson process of rate
n / MTBF-per-chip (facts T1: ~51k GPU-hours on H100); each loses the work since the last checkpoint
(checkpoints every ``checkpoint_interval_hours`` of run time after each restart) plus a restart time
(facts T9).  Closed form without failures: finish = start + C / (n x peak x MFU x 86,400) days.

Simplifications: the cluster is fixed once assembled (permanent chip failures are covered by spares; see
``fleet``); one chip type per job; owned chips cost their list price amortised over the service life
(power not included).

Records: ``jobs`` (one row per job), ``rentals`` (the job's rental contracts), ``events`` (start, finish,
failures).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from sim.engine.mechanisms import cloud as cloud_mod
from sim.engine.plans import expected_run_days
from sim.engine.plans import owned_hourly_usd as plans_owned_hourly_usd
from sim.engine.records import JobRow
from sim.engine.routes import obtainable
from sim.engine.state import LOOKAHEAD_JOB_DAYS, vendor_estimate
from sim.scenario.quantities import mean as dist_mean
from sim.units import HOURS_PER_DAY, MONTH_DAYS, SECONDS_PER_DAY

if TYPE_CHECKING:
    from sim.engine.simulation import World as Simulation

RENT_WAIT_DAYS = MONTH_DAYS  # how long a job waits in a rental queue before it re-plans


@dataclass
class JobState:
    """What a running job holds and has done (read at the horizon for unfinished jobs)."""

    lab: str
    job: str
    chip: str | None = None
    own: int = 0
    rentals: list = field(default_factory=list)  # (region, Request)
    start_day: float | None = None
    rate_flop_s: float = 0.0
    mfu: float = 0.0
    done_flop: float = 0.0
    segment_start: float | None = None
    failures: int = 0
    lost_hours: float = 0.0
    finished: bool = False
    recorded: bool = False
    phase_h: float = 0.0  # run hours since the last restart (checkpoints are taken every interval from it)
    assemblies: int = 0
    chips_max: int = 0
    own_max: int = 0
    rented_max: int = 0
    rental_cost_usd: float = 0.0
    owned_cost_usd: float = 0.0
    held_since: float | None = None
    regions: set = field(default_factory=set)
    last_note: Any = ""  # what the last job_wait event was recorded for (its reason)
    first_wait_day: float | None = None  # the first job_wait event: when, and its words (without the job's id)
    first_wait: str | None = None


def start(w: Simulation) -> None:
    """One process per training job."""
    for lid, lab in w.scenario.labs.items():
        for jid in lab.jobs:
            st = w.job_states[(lid, jid)] = JobState(lid, jid)
            w.env.process(run_job(w, lid, jid, st))


# ------------------------------------------------------------------------------------ chip choice
@dataclass(frozen=True)
class Option:
    """One way to run the job: a chip type, own and rented units, and what it is expected to give."""

    chip: str
    own: int
    region: str | None
    rented: int
    start_in_days: float  # 0, or the expected wait for chips on order
    run_days: float
    cost_usd: float
    parts: tuple[tuple[str, int], ...] = ()  # (region, GPUs) rented; one part unless the job is multi-region

    @property
    def n(self) -> int:
        return self.own + self.rented

    @property
    def waiting(self) -> bool:
        return self.start_in_days > 0

    def describe(self) -> str:
        where = f" + {self.rented} rented in {self.region}" if self.rented else ""
        wait = f" after ~{self.start_in_days:.0f} d wait" if self.waiting else ""
        return f"{self.chip} x{self.own}{where}{wait}: ~{self.start_in_days + self.run_days:.0f} d, ${self.cost_usd / 1e6:.1f}M"


def mfu_dist(w: Simulation, lid: str, jid: str, chip: str):
    """The job's MFU distribution on *chip*: the job's own, else the catalogue's training_mfu (None: cannot run)."""
    job = w.scenario.labs[lid].jobs[jid]
    return job.mfu.get(chip) or w.scenario.chips[chip].training_mfu


def candidate_chips(w: Simulation, lid: str, jid: str) -> list[str]:
    """Chips the job may run on: its list, or every released chip with a known training MFU that the lab can get
    (buy, hold or rent where the job may rent: :func:`sim.engine.routes.obtainable`)."""
    job = w.scenario.labs[lid].jobs[jid]
    key = ("job_chips", lid, jid)
    chips = w.memo.get(key)
    if chips is None:  # a function of the scenario and the network: worked out once per run
        chips = w.memo[key] = job.chips or sorted(c for c in obtainable(w, lid, job.clouds)
                                                  if mfu_dist(w, lid, jid, c) is not None)
    return [c for c in chips if w.release_day[c] <= w.env.now and w.peak(c, job.precision) > 0]


def cluster_cap(w: Simulation, lid: str, jid: str, chip: str) -> int:
    """Largest cluster the job would build of *chip*: its own maximum, within the chip's feasible size."""
    job = w.scenario.labs[lid].jobs[jid]
    limit = w.scenario.chips[chip].max_cluster_chips
    return min(job.cluster_size.max, limit) if limit else job.cluster_size.max


def expected_days(w: Simulation, lid: str, jid: str, chip: str, n: int) -> float:
    """Expected wall days of the whole job on *n* chips of *chip* (mean MFU, MTBF and restart: what the lab knows);
    a function of the scenario alone, so worked out once per run for each (job, chip, n)."""
    key = ("expected_days", lid, jid, chip, n)
    found = w.memo.get(key)
    if found is None:
        found = w.memo[key] = _expected_days(w, lid, jid, chip, n)
    return found


def _expected_days(w: Simulation, lid: str, jid: str, chip: str, n: int) -> float:
    job = w.scenario.labs[lid].jobs[jid]
    d = mfu_dist(w, lid, jid, chip)
    if d is None or n <= 0:
        return math.inf
    mfu = dist_mean(d) * (1 - job.mfu_loss_per_doubling) ** max(0.0, math.log2(n / job.mfu_reference_chips))
    mtbf = job.mtbf_hours_per_chip.get(chip)
    return expected_run_days(
        job.target_flop(), n, w.peak(chip, job.precision), mfu, mtbf_hours=dist_mean(mtbf) if mtbf is not None else None,
        checkpoint_hours=job.checkpoint_interval_hours, restart_hours=dist_mean(job.restart_hours),
    )


def owned_hourly_usd(w: Simulation, chip: str) -> float:
    """Full hourly cost of an owned chip (capex over life, networking, financing, power: ``scenario.costs``);
    a function of the chip and the run's draws only, so worked out once per run."""
    key = ("owned_hourly_usd", chip)
    found = w.memo.get(key)
    if found is None:
        found = w.memo[key] = _owned_hourly_usd(w, chip)
    return found


def _owned_hourly_usd(w: Simulation, chip: str) -> float:
    spec = w.scenario.chips[chip]
    c = w.scenario.costs
    return plans_owned_hourly_usd(
        w.unit_price(chip), spec.service_life_years, spec.tdp_w,
        networking_capex_share=w.param("costs/networking_capex_share", c.networking_capex_share),
        annual_financing_rate=w.param("costs/annual_financing_rate", c.annual_financing_rate),
        pue=w.param("costs/pue", c.pue), electricity_usd_per_kwh=w.param("costs/electricity", c.electricity_usd_per_kwh),
    )


def _arrival_days(w: Simulation, lid: str, chip: str) -> float:
    """Expected days until chips on order arrive and are installed (mean lead time + installation delay)."""
    key = ("arrival_days", lid, chip)
    found = w.memo.get(key)
    if found is None:
        found = w.memo[key] = _mean_arrival_days(w, lid, chip)
    return found


def _mean_arrival_days(w: Simulation, lid: str, chip: str) -> float:
    s = w.scenario
    vendor = s.chips[chip].vendor
    found = w.edge(vendor, lid)
    lead = dist_mean(found[1].lead_time_days) if found else 0.0
    return max(lead + dist_mean(s.labs[lid].install_delay_days), 1.0)


def options(w: Simulation, lid: str, jid: str) -> list[Option]:
    """Every way the job could run now (or soon, on chips on order), sorted by the job's objective."""
    s = w.scenario
    lab = s.labs[lid]
    job = lab.jobs[jid]
    lo = job.cluster_size.min
    sourcing = job.sourcing
    out: list[Option] = []
    for chip in candidate_chips(w, lid, jid):
        cap = cluster_cap(w, lid, jid, chip)
        if cap < lo:
            continue
        line = w.fleet[lid].get(chip)
        free = line.free if line else 0
        own = 0 if sourcing == "rent" else min(free, cap)
        hourly_own = owned_hourly_usd(w, chip)

        def add(own_n: int, parts: list[tuple[str, int]], wait: float) -> None:
            rented = sum(g for _, g in parts)
            n = own_n + rented
            days = expected_days(w, lid, jid, chip, n)
            if not math.isfinite(days):
                return
            hourly = own_n * hourly_own + sum(
                g * cloud_mod.price_per_gpu_hour(w, r, chip).at(w.env.now) for r, g in parts)
            region = "+".join(r for r, _ in parts) or None
            out.append(Option(chip, own_n, region, rented, wait, days, hourly * days * HOURS_PER_DAY, tuple(parts)))

        if own >= lo:
            add(own, [], 0.0)
        if sourcing != "own":
            regions = _regions(w, lid, chip, job.clouds)  # cheapest first
            for region in regions:
                avail = w.pools[(region, chip)].available_to(w, lid)
                gpus = min(cap - own, avail)
                if gpus > 0 and own + gpus >= lo:
                    add(own, [(region, gpus)], 0.0)
            if job.multi_region and len(regions) > 1:  # one cluster across regions, cheapest capacity first
                parts, need = [], cap - own
                for region in regions:
                    g = min(need, w.pools[(region, chip)].available_to(w, lid))
                    if g > 0:
                        parts.append((region, g))
                        need -= g
                if len(parts) > 1 and own + sum(g for _, g in parts) >= lo:
                    add(own, parts, 0.0)
        if job.wait_for_better_chip and sourcing != "rent":
            coming = w.pipeline[lid][chip]
            n_later = min(free + coming, cap)
            if coming > 0 and n_later >= lo and n_later > own:
                add(n_later, [], _arrival_days(w, lid, chip))
    if job.objective == "lowest_cost" or sourcing == "cheapest":
        return sorted(out, key=lambda o: (o.cost_usd, o.start_in_days + o.run_days, o.chip, o.region or ""))
    return sorted(out, key=lambda o: (o.start_in_days + o.run_days, o.cost_usd, o.chip, o.region or ""))


def procurement_plan(w: Simulation, lid: str, jid: str, pool: dict[str, int], orderable) -> tuple[list[str], int] | None:
    """What the lab orders for a job that has not started: (products, units), or None when it holds enough.

    The lab ranks the job's chips by expected days on a full-size cluster; it is covered when it holds (or
    has on order) a full-size cluster of any of them.  Otherwise it orders the best chip it may buy and its
    vendor is expected to deliver within a year (else the best it may buy at all), for the shortfall; chips
    ranked above it (denied by a rule) are listed first so that denied demand is recorded.
    """
    chips = candidate_chips(w, lid, jid)
    if not chips:
        return None
    ranked = sorted(chips, key=lambda c: (expected_days(w, lid, jid, c, cluster_cap(w, lid, jid, c)), c))
    if any(pool.get(c, 0) >= cluster_cap(w, lid, jid, c) for c in ranked):
        return None
    def deliverable(c: str) -> bool:
        return vendor_estimate(w, w.scenario.chips[c].vendor, c, LOOKAHEAD_JOB_DAYS) > 0

    for test in (lambda c: orderable(c) and deliverable(c), orderable):
        for k, c in enumerate(ranked):
            if test(c):
                return ranked[: k + 1], max(cluster_cap(w, lid, jid, c) - pool.get(c, 0), 0)
    first = ranked[0]
    return [first], max(cluster_cap(w, lid, jid, first) - pool.get(first, 0), 0)


def _regions(w: Simulation, lid: str, chip: str, allowed: list[str]) -> list[str]:
    out = []
    for (region, c), _pool in sorted(w.pools.items()):
        if c != chip:
            continue
        edge = w.edge(region, lid)
        if (allowed and region in allowed) or (not allowed and edge is not None and edge[1].flow == "rental"):
            out.append(region)
    # cheapest first, then by id
    def price(region: str) -> float:
        series = cloud_mod.price_per_gpu_hour(w, region, chip)
        return series.at(w.env.now) if series is not None else math.inf

    return sorted(out, key=lambda r: (price(r), r))


NO_OPTION = "no option"  # how a job_wait reason starts when nothing could start the job (not a choice to wait)


def assemble(w: Simulation, lid: str, jid: str, st: JobState):
    """Process: take the best option the job can get now; True when a cluster is held, False to wait."""
    s = w.scenario
    lab = s.labs[lid]
    job = lab.jobs[jid]
    lo = job.cluster_size.min
    opts = options(w, lid, jid)
    if not opts:  # nothing held, on order or rentable in one region for a cluster of the job's minimum
        key, words, largest = _shortfall(w, lid, jid)
        _wait_note(w, lid, st, f"{jid}: {NO_OPTION}: no cluster of {lo:,} chips held, on order or rentable now "
                               f"({words})", float(largest), key=(NO_OPTION, *key))
        return False
    for k, opt in enumerate(opts):
        if opt.waiting:
            _wait_note(w, lid, st, f"{jid}: waits for {opt.describe()}", opt.start_in_days)
            return False
        if not opt.parts:
            _take_own(w, lid, opt.chip, opt.own, st)
            _record_choice(w, lid, jid, opt, opts[k + 1:])
            return True
        granted = yield from _rent_parts(w, lid, lab.hq, opt)
        if granted is None:
            continue
        line = w.fleet[lid].get(opt.chip)
        own_now = min(line.free if line else 0, opt.own)
        if own_now + opt.rented < lo:
            for region, r in granted:
                cloud_mod.end(w, region, opt.chip, r)
            continue
        for region, r in granted:
            w.open_rentals[r.seq] = (region, opt.chip, r)
            st.rentals.append((region, r))
        _take_own(w, lid, opt.chip, own_now, st)
        _record_choice(w, lid, jid, opt, opts[k + 1:])
        return True
    _wait_note(w, lid, st, f"{jid}: {NO_OPTION} granted: {len(opts)} tried, each refused or not granted in time",
               float(len(opts)))
    return False


def _wait_note(w: Simulation, lid: str, st: JobState, note: str, value: float, key: object = None) -> None:
    """A ``job_wait`` event, once per change of the reason (*key*, else the note itself: a job re-trying for the
    same reason is not news, and a count in the note that moves between retries is not a new reason)."""
    key = note if key is None else key
    if st.last_note != key:
        st.last_note = key
        w.rec.event(w.env.now, "job_wait", lid, note, value)
        if st.first_wait is None:
            st.first_wait_day, st.first_wait = w.env.now, note.split(": ", 1)[-1]


def _shortfall(w: Simulation, lid: str, jid: str) -> tuple[tuple, str, int]:
    """Why no cluster can be had now, in numbers: the largest the job could hold of one chip (free and on order,
    when it may own) and rent in one region (when it may rent), and whether that region's rentable part is its
    ``tenant_share``.  Returns (what names the limit, the words, the largest count)."""
    job = w.scenario.labs[lid].jobs[jid]
    lo = job.cluster_size.min
    own_n, own_chip = 0, None
    rent_n, rent_chip, rent_region, by_share = 0, None, None, False
    for chip in candidate_chips(w, lid, jid):
        if cluster_cap(w, lid, jid, chip) < lo:
            continue  # the chip cannot make a cluster of the job's minimum at all
        if job.sourcing != "rent":
            line = w.fleet[lid].get(chip)
            n = (line.free if line else 0) + max(w.pipeline[lid][chip], 0)
            if n > own_n:
                own_n, own_chip = n, chip
        if job.sourcing != "own":
            for region in _regions(w, lid, chip, job.clouds):
                pool = w.pools[(region, chip)]
                n = pool.available_to(w, lid)
                if n > rent_n:
                    rent_n, rent_chip, rent_region = n, chip, region
                    by_share = n < pool.capacity(w) - pool.in_use  # free GPUs beyond what the tenant may hold
    parts = []
    if job.sourcing != "rent":
        parts.append(f"most held or on order: {own_n:,} {own_chip}" if own_chip else "none held or on order")
    if job.sourcing != "own":
        parts.append(f"most rentable in one region: {rent_n:,} {rent_chip} in {rent_region}"
                     + (f", within {lid}'s tenant share" if by_share else "") if rent_chip else "none rentable")
    return (own_chip, rent_chip, rent_region, by_share), "; ".join(parts), max(own_n, rent_n)


def _rent_parts(w: Simulation, lid: str, hq: str, opt: Option):
    """Process: rent every part of an option (remote-access checks, then the queues); the granted
    (region, request) pairs, or None (and nothing held) when any part is refused or not granted in time."""
    checked = []
    for region, gpus in opt.parts:
        ok, rule = yield from cloud_mod.remote_check(w, lid, hq, region, opt.chip, gpus)
        if not ok:
            cloud_mod.refused(w, lid, region, opt.chip, gpus, rule)
            return None
        checked.append((region, gpus, rule))
    reqs = []
    for region, gpus, rule in checked:
        r = cloud_mod.request(w, lid, region, opt.chip, gpus)
        r.rule = rule
        reqs.append((region, r))
    yield w.env.all_of([r.granted for _, r in reqs]) | w.env.timeout(RENT_WAIT_DAYS)
    if all(r.granted.triggered for _, r in reqs):
        return reqs
    for region, r in reqs:
        if r.granted.triggered:
            cloud_mod.end(w, region, opt.chip, r)
        else:
            cloud_mod.cancel(w, region, opt.chip, r)
    return None


def _record_choice(w: Simulation, lid: str, jid: str, chosen: Option, others: list[Option]) -> None:
    alts = "; ".join(o.describe() for o in others[:3])
    w.rec.event(w.env.now, "job_choice", lid, f"{jid}: {chosen.describe()}" + (f" | next: {alts}" if alts else ""),
                chosen.run_days)


def _take_own(w: Simulation, lid: str, chip: str, own: int, st: JobState) -> None:
    if own > 0:
        w.fleet[lid][chip].training += own
    st.chip = chip
    st.own = own
    st.held_since = w.env.now


def run_job(w: Simulation, lid: str, jid: str, st: JobState):
    """The job's life: wait for the start date, assemble, run with failures and rental renewals, release."""
    env = w.env
    s = w.scenario
    job = s.labs[lid].jobs[jid]
    target = job.target_flop()
    yield env.timeout(max(s.day_of(job.earliest_start) - env.now, 0.0))
    while st.done_flop < target:
        while True:
            ok = yield from assemble(w, lid, jid, st)
            if ok:
                break
            yield w.fleet_event(lid) | env.timeout(MONTH_DAYS)
        w.jobs_started.add((lid, jid))
        n = _configure(w, st, job)
        if st.start_day is None:
            st.start_day = env.now
        w.rec.event(env.now, "job_start" if st.assemblies == 1 else "job_resume", lid, f"{jid} on {n} x {st.chip}", n)
        outcome = yield from _progress(w, st, job, target)
        if outcome == "stalled":
            yield env.event()  # no progress possible (MFU or peak of 0): the job never finishes
        if outcome == "lost_capacity":
            _release(w, st)
            w.rec.event(env.now, "job_paused", lid, f"{jid}: rentals refused at renewal", st.done_flop)
    st.finished = True
    st.segment_start = None
    w.rec.event(env.now, "job_finish", lid, jid, st.done_flop)
    _record(w, st, release=True)


def _configure(w: Simulation, st: JobState, job) -> int:
    """Rate of the assembled cluster: n x peak x MFU (MFU drawn once per job and chip)."""
    chip = cast(str, st.chip)  # set before a cluster is configured
    n = st.own + sum(r.gpus for _, r in st.rentals)
    mfu0 = w.param(f"mfu/{st.lab}/{st.job}/{chip}", mfu_dist(w, st.lab, st.job, chip))
    doublings = max(0.0, math.log2(n / job.mfu_reference_chips))
    st.mfu = mfu0 * (1 - job.mfu_loss_per_doubling) ** doublings
    st.rate_flop_s = n * w.peak(chip, job.precision) * st.mfu
    st.chips_max = max(st.chips_max, n)
    st.own_max = max(st.own_max, st.own)
    st.rented_max = max(st.rented_max, n - st.own)
    st.assemblies += 1
    st.phase_h = 0.0
    return n


def _next_renewal(st: JobState, block_days: float, now: float) -> float:
    """Days until the next rental contract block ends (inf without rentals)."""
    due = math.inf
    for _, r in st.rentals:
        k = math.floor((now - r.start_day) / block_days + 1e-9) + 1
        due = min(due, r.start_day + k * block_days - now)
    return due


def _progress(w: Simulation, st: JobState, job, target: float):
    """Process: run until done ('done'), or until renewals leave too few GPUs ('lost_capacity').

    A failure and its restart are private to the job (nothing else reads its state or its streams), so a cycle
    of them that ends before the horizon is worked out here without an event: the job keeps its own clock *t*
    and waits in SimPy only for what others see (its finish, a rental renewal) or for a cycle that reaches the
    horizon.  Its draws, its arithmetic and its times are those of waiting out every failure as an event
    (``tests/engine/test_failure_cycles.py`` runs both)."""
    env = w.env
    n = st.own + sum(r.gpus for _, r in st.rentals)
    if st.rate_flop_s <= 0:
        return "stalled"
    mtbf = job.mtbf_hours_per_chip.get(st.chip)
    mtbf_h = w.param(f"mtbf/{st.lab}/{st.job}/{st.chip}", mtbf) if mtbf is not None else None
    fail_rng = w.rng(f"failure/job/{st.lab}/{st.job}")
    fail_days = fail_rng.exponential(mtbf_h / n) / HOURS_PER_DAY if mtbf_h else math.inf
    horizon = w.horizon_days
    t = env.now  # the job's clock: env.now, or later by the failure cycles worked out since the last wait
    while st.done_flop < target:
        remaining_days = (target - st.done_flop) / st.rate_flop_s / SECONDS_PER_DAY
        renew_days = _next_renewal(st, job.rental_days_block, t)
        st.segment_start = t
        step = min(remaining_days, fail_days, renew_days)
        if step == remaining_days:
            yield env.timeout(_delay_to(env.now, t + remaining_days))
            st.done_flop = target
            st.segment_start = None
            return "done"
        fail_days -= step
        renewal = step == renew_days and fail_days > 0
        if renewal or not t + step < horizon:
            yield env.timeout(_delay_to(env.now, t + step))  # a renewal, or a failure at or after the horizon
            t = env.now
        else:
            t = t + step  # a failure before the horizon: no one waits on it
        hours = step * HOURS_PER_DAY
        if renewal:
            lost_gpus = _renew(w, st)
            if not lost_gpus:
                st.done_flop += st.rate_flop_s * hours * 3600.0
                st.phase_h += hours
                continue
            _interrupt(w, st, job, hours, count_failure=False)
            if st.own + sum(r.gpus for _, r in st.rentals) < job.cluster_size.min:
                st.segment_start = None
                return "lost_capacity"
            n = _configure(w, st, job)
            st.assemblies -= 1  # a shrink, not a new assembly
            w.rec.event(env.now, "job_shrunk", st.lab, f"{st.job} to {n} x {st.chip}", n)
        else:
            _interrupt(w, st, job, hours, count_failure=True)
        restart_h = w.sample(f"restart/{st.lab}/{st.job}", job.restart_hours)
        st.lost_hours += restart_h
        st.segment_start = None
        back = t + restart_h / HOURS_PER_DAY
        if not back < horizon:
            yield env.timeout(_delay_to(env.now, back))  # still restarting at the horizon
        t = back
        fail_days = fail_rng.exponential(mtbf_h / n) / HOURS_PER_DAY if mtbf_h else math.inf
    st.segment_start = None
    return "done"


def _delay_to(now: float, day: float) -> float:
    """The timeout from *now* that SimPy schedules at exactly *day* (``now + (day - now)`` can round off)."""
    d = day - now
    while now + d < day:
        d = math.nextafter(d, math.inf)
    while now + d > day:
        d = math.nextafter(d, -math.inf)
    return d


def _interrupt(w: Simulation, st: JobState, job, hours: float, count_failure: bool) -> None:
    """Credit the segment's work up to the last checkpoint (every checkpoint_interval_hours since restart)."""
    total = st.phase_h + hours
    lost = math.fmod(total, job.checkpoint_interval_hours)
    st.done_flop += st.rate_flop_s * (hours - lost) * 3600.0
    st.lost_hours += lost
    st.phase_h = 0.0
    if count_failure:
        st.failures += 1


def _renew(w: Simulation, st: JobState) -> int:
    """At a contract block's end, re-check remote-access rules; refused rentals end.  Returns GPUs lost."""
    s = w.scenario
    lab = s.labs[st.lab]
    lost = 0
    kept = []
    now = w.env.now
    block = lab.jobs[st.job].rental_days_block
    chip = cast(str, st.chip)  # a job with rentals has its chip
    for region, r in st.rentals:
        k = (now - r.start_day) / block
        if abs(k - round(k)) > 1e-6:
            kept.append((region, r))
            continue
        ok, rule = cloud_mod.remote_decision(w, st.lab, lab.hq, region, chip, r.gpus, approved=r.rule)
        if ok:
            kept.append((region, r))
            continue
        w.open_rentals.pop(r.seq, None)
        st.rental_cost_usd += cloud_mod.end(w, region, chip, r)
        st.regions.add(region)
        cloud_mod.refused(w, st.lab, region, chip, r.gpus, rule)
        lost += r.gpus
    st.rentals = kept
    return lost


def _release(w: Simulation, st: JobState) -> None:
    """Give back every chip the job holds (own and rented) and keep the rental costs."""
    for region, r in st.rentals:  # a job with rentals has its chip
        w.open_rentals.pop(r.seq, None)
        st.rental_cost_usd += cloud_mod.end(w, region, cast(str, st.chip), r)
        st.regions.add(region)
    st.rentals = []
    line = w.fleet[st.lab].get(st.chip) if st.chip else None
    if line is not None and st.own:
        st.owned_cost_usd += _owned_cost(w, st)
        line.training -= st.own
        w.signal_fleet(st.lab)
    st.own = 0


def _owned_cost(w: Simulation, st: JobState) -> float:
    """Owned chips cost their full hourly cost (``owned_hourly_usd``) while the job holds them."""
    held = w.env.now - (st.held_since if st.held_since is not None else w.env.now)
    return st.own * owned_hourly_usd(w, cast(str, st.chip)) * held * HOURS_PER_DAY  # owned chips: chip set


def _record(w: Simulation, st: JobState, release: bool) -> None:
    """One jobs row: largest cluster, money spent on rentals and owned chips, work done."""
    s = w.scenario
    job = s.labs[st.lab].jobs[st.job]
    now = w.env.now
    line = w.fleet[st.lab].get(st.chip) if st.chip else None
    grey_units = (line.grey_units / line.units if line is not None and line.units else 0.0) * st.own
    if release:
        _release(w, st)
    else:  # the horizon: cost what is held so far; the rental rows are written here
        for region, r in st.rentals:
            w.open_rentals.pop(r.seq, None)
            chip = cast(str, st.chip)  # a job with rentals has its chip
            cost = cloud_mod.rental_cost(w, region, chip, r.gpus, r.start_day, now)
            st.rental_cost_usd += cost
            st.regions.add(region)
            w.rec.rentals.append(cloud_mod.RentalRow(st.lab, region, chip, r.gpus, r.request_day, r.start_day,
                                                     None, r.start_day - r.request_day, cost, "served", r.rule))
        if st.own:
            st.owned_cost_usd += _owned_cost(w, st)
    duration = (now - st.start_day) if st.start_day is not None else 0.0
    eff = st.done_flop / (duration * SECONDS_PER_DAY) / 1e15 if duration > 0 else 0.0
    chip = st.chip or (job.chips[0] if job.chips else (candidate_chips(w, st.lab, st.job) or sorted(s.chips))[0])
    n = st.chips_max
    w.rec.jobs.append(JobRow(
        st.lab, st.job, chip, n, st.own_max, st.rented_max, s.chips[chip].designer_country,
        ",".join(sorted(st.regions)), job.target_flop(), st.done_flop, st.start_day, now if st.finished else None,
        st.finished, st.failures, st.lost_hours, st.rental_cost_usd + st.owned_cost_usd, st.rental_cost_usd,
        st.owned_cost_usd, eff, st.mfu, s.day_of(job.deadline) if job.deadline else None,
        min(grey_units / n, 1.0) if n else 0.0, st.first_wait_day, st.first_wait,
    ))
    st.recorded = True


def finish(w: Simulation) -> None:
    """Jobs not finished at the horizon: record progress up to the last checkpoint."""
    now = w.env.now
    for st in w.job_states.values():
        if st.recorded:
            continue
        if st.segment_start is not None and st.rate_flop_s > 0:
            job = w.scenario.labs[st.lab].jobs[st.job]
            hours = (now - st.segment_start) * HOURS_PER_DAY
            kept = hours - math.fmod(st.phase_h + hours, job.checkpoint_interval_hours)  # up to the last checkpoint
            st.done_flop = min(max(st.done_flop + st.rate_flop_s * kept * 3600.0, 0.0), job.target_flop())
        _record(w, st, release=False)
