"""The catalog's `money_path:` section: where money moves (nodes and the edges between them), which catalog
signals show each movement's health, and what guards each node (PCI scope, KYC, data residency, licensing,
the provider it depends on). `moneypath map` draws it (moneypath.map); `moneypath init` scaffolds it
(moneypath.scaffold.map_section). Cross-references are checked by `money_path_problems`, called from
validate.py; references to other services' catalogs are checked when maps are joined (moneypath.map.graph).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from moneypath._common.strict import StrictModel
from moneypath.catalog.matchers import VALUE_CUTOFF, did_you_mean, matcher_problem
from moneypath.catalog.terms import parse_selector

NODE_KINDS = ("funding", "service", "provider", "acquirer", "ledger", "queue", "settlement", "payout_rail", "bank",
              "merchant", "store")
MOVEMENTS = ("fund", "authorize", "capture", "refund", "settle", "reconcile", "pay_out", "record", "enqueue",
             "transfer", "chargeback")
# The health an edge's signals show, each role read its own way (moneypath.map.live_health): a rate per second, the share
# of errors in the rate, a latency quantile, a lag in seconds, a depth.
SIGNAL_ROLES = ("rate", "errors", "latency", "lag", "depth")
PROVIDER_KINDS = ("provider", "acquirer", "payout_rail")  # the kinds of node that may be a catalog provider
PCI_ROLES = ("store", "process", "transmit")
# Movements that only record or check money that moved elsewhere: they need not carry it on to another node.
BOOKKEEPING = ("record", "reconcile")
_NODE_ID = re.compile(r"^[a-z][a-z0-9_]*$")
# `node` in this catalog, or `service/node` in another service's catalog (checked when maps are joined).
_REFERENCE = re.compile(r"^(?:(?P<service>[a-z0-9][a-z0-9_.-]*)/)?(?P<node>[a-z][a-z0-9_]*)$")
_SOURCE_KINDS = ("funding",)


def split_reference(text: str) -> tuple[str | None, str] | None:
    """(service or None, node) of an edge end, or None when it is neither `node` nor `service/node`."""
    m = _REFERENCE.match(text)
    return (m.group("service"), m.group("node")) if m else None


class Node(StrictModel):
    """A node of `money_path.nodes`: somewhere money is, or passes (a provider, the ledger, a bank), and what guards
    it."""

    kind: Literal[NODE_KINDS] = Field(description="What the node is: `funding` (the customer's card, bank or "  # type: ignore[valid-type]
                                      "wallet: where money comes from), `service` (one of the team's services), "
                                      "`provider`, `acquirer`, `ledger`, `queue`, `settlement` (settlement files), "
                                      "`payout_rail`, `bank`, `merchant`, `store` (a database).")
    label: str | None = Field(default=None, min_length=1, description="The name drawn; the node's key when not "
                              "given.")
    provider: str | None = Field(default=None, description="The catalog provider this node is (a `provider`, "
                                 "`acquirer` or `payout_rail` node): its signals are read with `provider=\"<id>\"`.")
    source: bool | None = Field(default=None, description="Money enters the path here: a node that sends money and "
                                "receives none must say so (a `funding` node does by default).")
    pci: list[Literal[PCI_ROLES]] = Field(default_factory=list, description="What the node does with card data: "  # type: ignore[valid-type]
                                          "`store`, `process`, `transmit` (PCI DSS scope); `moneypath lint` wants "
                                          "the card-number guard signal (card_numbers_total) of a catalog whose "
                                          "own node (service, store, queue, ledger, settlement) is in scope.")
    kyc: str | None = Field(default=None, min_length=1, description="The KYC trigger here, in words (e.g. payouts "
                            "above EUR 1,000 need a verified merchant).")
    region: str | None = Field(default=None, min_length=1, description="Where the node keeps its data (data "
                               "residency), e.g. eu-west-1.")
    jurisdiction: str | None = Field(default=None, min_length=1, description="The licence the node operates "
                                     "under, e.g. `EMI (FCA)`.")

    @property
    def is_source(self) -> bool:
        return self.source if self.source is not None else self.kind in _SOURCE_KINDS


class Edge(StrictModel):
    """An edge of `money_path.edges`: one movement of money from a node to another, and the signals that show its
    health."""

    source: str = Field(alias="from", description="The node money leaves: a node key, or `service/node` in another "
                        "service's catalog.")
    target: str = Field(alias="to", description="The node money reaches, written as `from` is.")
    movement: Literal[MOVEMENTS] = Field(description="What moves: `fund`, `authorize`, `capture`, `refund`, "  # type: ignore[valid-type]
                                         "`settle`, `reconcile`, `pay_out`, `record` (a ledger write), `enqueue`, "
                                         "`transfer`, `chargeback`.")
    label: str | None = Field(default=None, min_length=1, description="Drawn beside the edge; the movement when "
                              "not given.")
    signals: dict[Literal[SIGNAL_ROLES], str] = Field(  # type: ignore[valid-type]
        default_factory=dict, description="The health the edge shows → a selector of a catalog signal: `rate` and "
        "`errors` (counters, e.g. `authorizations_total{outcome=~\"error|timeout\"}`), `latency` (a histogram), "
        "`lag` and `depth` (gauges). An edge with none is drawn but cannot be judged (lint fails it).")

    model_config = {**StrictModel.model_config, "populate_by_name": True}

    @field_validator("source", "target")
    @classmethod
    def _reference(cls, value: str) -> str:
        if split_reference(value) is None:
            raise ValueError(f"{value!r} is neither a node key nor service/node")
        return value


class MoneyPath(StrictModel):
    """`money_path:`: the nodes money passes and the edges it moves along."""

    nodes: dict[str, Node] = Field(min_length=1, description="Node key (lower_snake_case) → the node.")
    edges: list[Edge] = Field(min_length=1, description="The movements of money between nodes.")

    @model_validator(mode="after")
    def _keys(self) -> MoneyPath:
        for key in self.nodes:
            if not _NODE_ID.match(key):
                raise ValueError(f"node key {key!r} must be lower_snake_case")
        return self


_ROLE_TYPES = {"rate": ("counter",), "errors": ("counter",), "latency": ("histogram",), "lag": ("gauge",),
               "depth": ("gauge", "counter")}


def money_path_problems(catalog) -> list[tuple[tuple, str]]:
    """(key path, problem) for each reference the section makes that the catalog does not have: a provider, a
    signal or label value, a node; a node that sends money, receives none and is not a source."""
    section: MoneyPath | None = catalog.money_path
    if section is None:
        return []
    problems: list[tuple[tuple, str]] = []
    for key, node in section.nodes.items():
        loc = ("money_path", "nodes", key)
        if node.provider is not None and node.provider not in catalog.providers:
            problems.append((loc + ("provider",), f"{node.provider!r} is not a catalog provider"
                             f"{did_you_mean(node.provider, catalog.providers, VALUE_CUTOFF)}"))
        elif node.provider is not None and node.kind not in PROVIDER_KINDS:
            problems.append((loc + ("provider",), f"only a provider, acquirer or payout_rail node names a provider "
                             f"(this is a {node.kind})"))
    sends, receives = set(), set()
    for i, edge in enumerate(section.edges):
        loc = ("money_path", "edges", i)
        for field, end in (("from", edge.source), ("to", edge.target)):
            service, node = split_reference(end)  # type: ignore[misc]
            if service is None or service == catalog.service:
                if node not in section.nodes:
                    problems.append((loc + (field,), f"{node!r} is not a node of the money path"
                                     f"{did_you_mean(node, section.nodes, VALUE_CUTOFF)}"))
                (sends if field == "from" else receives).add(node)
        if edge.source == edge.target:
            problems.append((loc + ("to",), "an edge goes from one node to another"))
        for role, text in edge.signals.items():
            problems += [(loc + ("signals", role), p) for p in _selector_problems(catalog, role, text)]
    for key, node in section.nodes.items():
        if key in sends and key not in receives and not node.is_source and not _bookkeeping_only(section, key):
            problems.append((("money_path", "nodes", key), "sends money but receives none: declare it a source "
                             "(source: true) or add the edge that funds it"))
        if key not in sends and key not in receives:
            problems.append((("money_path", "nodes", key), "no edge reaches or leaves it"))
    return problems


def _bookkeeping_only(section: MoneyPath, key: str) -> bool:
    """Whether every edge the node sends on only records or checks money (a ledger reconciled against a file)."""
    return all(e.movement in BOOKKEEPING for e in section.edges if split_reference(e.source)[1] == key)  # type: ignore[index]


def _selector_problems(catalog, role: str, text: str) -> list[str]:
    selector = parse_selector(text)
    if selector is None:
        return [f'{text!r} is not a selector like name{{label="value"}}']
    signal = catalog.signals.get(selector.signal)
    if signal is None:
        return [f"{selector.signal!r} is not a catalog signal{did_you_mean(selector.signal, catalog.signals)}"]
    if not catalog.signal_on(selector.signal):
        return [f"{selector.signal} belongs to a feature this catalog has switched off"]
    if signal.type not in _ROLE_TYPES[role]:
        return [f"{role} reads a {' or '.join(_ROLE_TYPES[role])}; {selector.signal} is a {signal.type}"]
    problems = []
    for m in selector.matchers:
        if m.label not in signal.labels:
            problems.append(f"{selector.signal} has no label {m.label!r}{did_you_mean(m.label, signal.labels)}")
        elif problem := matcher_problem(m.label, m.op, m.value, signal.labels[m.label]):
            problems.append(problem)
    return problems
