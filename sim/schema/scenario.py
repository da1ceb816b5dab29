"""The top-level Scenario: horizon, seed, and the sections that compose the modelled world."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pydantic import Field, ValidationInfo, model_validator

from sim.schema._base import Sourced, new_dict
from sim.schema.actors import Cloud, Lab, RentalStream
from sim.schema.chips import ChipSpec
from sim.schema.dist import NonNegQuantity, UnitQuantity
from sim.schema.network import EdgeSpec, NodeSpec
from sim.schema.rules import Rule
from sim.units import date_to_day


class Costs(Sourced):
    """The full-cost basis of owning a chip (owned chips are compared with rentals per delivered FLOP).

    Hourly cost of an owned chip = price x (1 + networking_capex_share) / service life
    + price x annual_financing_rate / hours per year + TDP x PUE x electricity price.
    """

    electricity_usd_per_kwh: NonNegQuantity = Field(default=0.0)
    pue: NonNegQuantity = Field(default=1.0, description="Power usage effectiveness of the data centre (>= 1).")
    networking_capex_share: NonNegQuantity = Field(
        default=0.0, description="Networking, servers and facility capex as a share of the accelerator price."
    )
    annual_financing_rate: UnitQuantity = Field(default=0.0, description="Cost of capital per year.")


class Scenario(Sourced):
    """One question about the AI-chip supply chain, as a world to simulate."""

    name: str
    question: str = Field(description="The question this scenario answers.")
    description: str = Field(default="", description="What is modelled, what is assumed, where the boundary is.")
    start: dt.date
    end: dt.date
    seed: int = Field(default=0, ge=0)
    country_groups: dict[str, list[str]] = Field(
        default_factory=new_dict, description="Named groups of countries (e.g. D5, tier3) rules can name."
    )
    entity_lists: dict[str, list[str]] = Field(
        default_factory=new_dict, description="Named lists of actor ids (e.g. entity_list) rules can name."
    )
    chips: dict[str, ChipSpec] = Field(default_factory=new_dict)
    nodes: dict[str, NodeSpec] = Field(default_factory=new_dict)
    edges: dict[str, EdgeSpec] = Field(default_factory=new_dict)
    rules: dict[str, Rule] = Field(default_factory=new_dict)
    labs: dict[str, Lab] = Field(default_factory=new_dict)
    clouds: dict[str, Cloud] = Field(default_factory=new_dict)
    rental_streams: dict[str, RentalStream] = Field(default_factory=new_dict)
    costs: Costs = Field(default_factory=Costs, description="Full-cost basis of owned chips.")

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Scenario:
        if info.context and info.context.get("skip_cross_check"):
            return self
        problems = cross_check(self)
        if problems:
            raise ValueError("; ".join(f"{p.path}: {p.message}" for p in problems))
        return self

    @property
    def horizon_days(self) -> float:
        """Length of the simulated period in days."""
        return float((self.end - self.start).days)

    def day_of(self, date: dt.date) -> float:
        """Days from the start to *date* (negative before the start)."""
        return date_to_day(self.start, date)

    def actor_ids(self) -> set[str]:
        """Every node id: supply nodes, labs and clouds."""
        return set(self.nodes) | set(self.labs) | set(self.clouds)

    def country_of(self, node_id: str) -> str:
        """Country where a node sits."""
        if node_id in self.labs:
            return self.labs[node_id].country
        if node_id in self.clouds:
            return self.clouds[node_id].country
        return self.nodes[node_id].country


@dataclass(frozen=True)
class Problem:
    """A cross-reference problem found after parsing, at a dotted path."""

    path: str
    message: str


def cross_check(s: Scenario) -> list[Problem]:
    """Every reference between sections resolves; ids are unique; dates are coherent."""
    out: list[Problem] = []
    add = lambda path, msg: out.append(Problem(path, msg))  # noqa: E731
    if s.end <= s.start:
        add("end", f"end ({s.end}) must be after start ({s.start})")

    # one namespace for nodes, labs and clouds
    seen: dict[str, str] = {}
    for section, ids in (("nodes", s.nodes), ("labs", s.labs), ("clouds", s.clouds)):
        for i in ids:
            if i in seen:
                add(f"{section}.{i}", f"duplicate id '{i}' (also in {seen[i]})")
            seen[i] = section
    actors = s.actor_ids()
    vendors = {k for k, n in s.nodes.items() if n.kind == "vendor"}
    packagers = {k for k, n in s.nodes.items() if n.kind == "packager"}
    known_places = set(s.country_groups) | {c for g in s.country_groups.values() for c in g}
    known_places |= {s.country_of(a) for a in actors}

    for cid, chip in s.chips.items():
        if chip.vendor not in vendors:
            add(f"chips.{cid}.vendor", f"unknown vendor '{chip.vendor}'" + _hint(chip.vendor, vendors))
        if chip.foundry is not None and chip.foundry not in s.nodes:
            add(f"chips.{cid}.foundry", f"unknown foundry '{chip.foundry}'" + _hint(chip.foundry, set(s.nodes)))

    for nid, node in s.nodes.items():
        if node.kind == "foundry":
            total = sum(a.share for a in node.allocation.values())
            if total > 1 + 1e-9:
                add(f"nodes.{nid}.allocation", f"shares add up to {total:g}, more than 1")
            for chip_id, alloc in node.allocation.items():
                if chip_id not in s.chips:
                    add(f"nodes.{nid}.allocation.{chip_id}", f"unknown chip '{chip_id}'" + _hint(chip_id, set(s.chips)))
                if alloc.packager not in packagers:
                    add(f"nodes.{nid}.allocation.{chip_id}.packager", f"unknown packager '{alloc.packager}'")
        if node.kind == "packager":
            for section in ("initial_dies", "die_arrivals_per_month"):
                for chip_id in getattr(node, section):
                    if chip_id not in s.chips:
                        add(f"nodes.{nid}.{section}.{chip_id}",
                            f"unknown chip '{chip_id}'")
        if node.kind == "vendor":
            for section in ("initial_inventory", "external_supply_per_month", "unsold_leaves_after_days"):
                for chip_id in getattr(node, section):
                    if chip_id not in s.chips:
                        add(f"nodes.{nid}.{section}.{chip_id}",
                            f"unknown chip '{chip_id}'" + _hint(chip_id, set(s.chips)))
            for g, group in enumerate(node.fungible_supply):
                for j, chip_id in enumerate(group):
                    if chip_id not in s.chips:
                        add(f"nodes.{nid}.fungible_supply.{g}.{j}",
                            f"unknown chip '{chip_id}'" + _hint(chip_id, set(s.chips)))
            for k, p in enumerate(node.priority):
                if p.buyer not in actors:
                    add(f"nodes.{nid}.priority.{k}.buyer", f"unknown buyer '{p.buyer}'")
        if node.kind == "distributor" and node.grey is not None:
            for k, step in enumerate(node.grey.share_of_denied + node.grey.seizure_probability):
                from sim.schema.dist import support

                lo, hi = support(step.value)
                if hi > 1:
                    add(f"nodes.{nid}.grey", f"shares and probabilities must be <= 1, got {hi:g} (step {k})")

    from sim.schema.network import ACCEPTS, EMITS

    def kind_of(node_id: str) -> str:
        return "lab" if node_id in s.labs else "cloud" if node_id in s.clouds else s.nodes[node_id].kind

    for eid, e in s.edges.items():
        known = True
        for end in ("from_", "to"):
            ref = getattr(e, end)
            if ref not in actors:
                known = False
                add(f"edges.{eid}.{end.rstrip('_')}", f"unknown node '{ref}'" + _hint(ref, actors))
        if not known:
            continue
        if e.from_ == e.to:
            add(f"edges.{eid}.to", f"an edge from '{e.from_}' to itself (a self-loop) carries nothing")
            continue
        src, dst = kind_of(e.from_), kind_of(e.to)
        if e.flow not in EMITS[src]:
            add(f"edges.{eid}.flow", f"a {src} does not send {e.flow} (a {src} sends: "
                                     f"{', '.join(sorted(EMITS[src])) or 'nothing'})")
        elif e.flow not in ACCEPTS[dst]:
            add(f"edges.{eid}.flow", f"a {dst} does not receive {e.flow} (a {dst} receives: "
                                     f"{', '.join(sorted(ACCEPTS[dst])) or 'nothing'})")
        if e.channel == "remote" and e.flow != "rental":
            add(f"edges.{eid}.channel", "the remote channel carries rental access only")

    for rid, r in s.rules.items():
        for k, place in enumerate(r.scope.destinations):
            if place not in known_places:
                add(f"rules.{rid}.scope.destinations.{k}", f"unknown country or group '{place}'")
        for k, place in enumerate(r.scope.buyer_hq):
            if place not in known_places:
                add(f"rules.{rid}.scope.buyer_hq.{k}", f"unknown country or group '{place}'")
        for k, user in enumerate(r.scope.end_users):
            if user not in s.entity_lists and user not in actors:
                add(f"rules.{rid}.scope.end_users.{k}", f"unknown entity list or actor '{user}'")
        for k, clause in enumerate(r.scope.items):
            for j, prod in enumerate(clause.products):
                if prod not in s.chips:
                    add(f"rules.{rid}.scope.items.{k}.products.{j}",
                        f"unknown chip '{prod}'" + _hint(prod, set(s.chips)))
        for k, other in enumerate(r.overrides):
            if other not in s.rules:
                add(f"rules.{rid}.overrides.{k}", f"unknown rule '{other}'" + _hint(other, set(s.rules)))
    for name, members in s.entity_lists.items():
        for k, m in enumerate(members):
            if m not in actors:
                add(f"entity_lists.{name}.{k}", f"unknown actor '{m}'" + _hint(m, actors))

    for lid, lab in s.labs.items():
        for chip_id in list(lab.initial_fleet) + lab.strategy.products:
            if chip_id not in s.chips:
                add(f"labs.{lid}", f"unknown chip '{chip_id}'" + _hint(chip_id, set(s.chips)))
        for jid, job in lab.jobs.items():
            for k, chip_id in enumerate(job.chips):
                if chip_id not in s.chips:
                    add(f"labs.{lid}.jobs.{jid}.chips.{k}", f"unknown chip '{chip_id}'" + _hint(chip_id, set(s.chips)))
            missing = [c for c in job.chips if c in s.chips and c not in job.mfu and s.chips[c].training_mfu is None]
            if missing:
                add(f"labs.{lid}.jobs.{jid}", f"mfu is missing for chip(s): {', '.join(missing)}")
            for chip_id in job.mfu:
                if chip_id not in s.chips:
                    add(f"labs.{lid}.jobs.{jid}.mfu.{chip_id}",
                        f"unknown chip '{chip_id}'" + _hint(chip_id, set(s.chips)))
            for k, cloud in enumerate(job.clouds):
                if cloud not in s.clouds:
                    add(f"labs.{lid}.jobs.{jid}.clouds.{k}", f"unknown cloud '{cloud}'" + _hint(cloud, set(s.clouds)))
            for field in ("earliest_start", "deadline"):
                d = getattr(job, field)
                if d is not None and not s.start <= d <= s.end:
                    add(f"labs.{lid}.jobs.{jid}.{field}", f"{d} is outside the horizon {s.start}..{s.end}")
        if lab.inference is not None:
            for k, chip_id in enumerate(lab.inference.chips):
                if chip_id not in s.chips:
                    add(f"labs.{lid}.inference.chips.{k}", f"unknown chip '{chip_id}'")
        for wid, wl in lab.workloads.items():
            for k, chip_id in enumerate(wl.chips):
                if chip_id not in s.chips:
                    add(f"labs.{lid}.workloads.{wid}.chips.{k}",
                        f"unknown chip '{chip_id}'" + _hint(chip_id, set(s.chips)))
    for cid, cloud in s.clouds.items():
        for tenant in cloud.tenant_share:
            if tenant not in s.labs:
                add(f"clouds.{cid}.tenant_share.{tenant}", f"unknown lab '{tenant}'" + _hint(tenant, set(s.labs)))
        for section in ("initial_fleet", "purchases_per_month", "price_usd_per_gpu_hour"):
            for chip_id in getattr(cloud, section):
                if chip_id not in s.chips:
                    add(f"clouds.{cid}.{section}.{chip_id}", f"unknown chip '{chip_id}'" + _hint(chip_id, set(s.chips)))
    for sid, stream in s.rental_streams.items():
        if stream.cloud not in s.clouds:
            add(f"rental_streams.{sid}.cloud", f"unknown cloud '{stream.cloud}'")
        if stream.chip not in s.chips:
            add(f"rental_streams.{sid}.chip", f"unknown chip '{stream.chip}'")
    return out


def _hint(word: str, choices: set[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
