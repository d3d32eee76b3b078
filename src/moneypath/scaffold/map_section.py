"""The `money_path:` section `moneypath init` writes: the customer's funding source, the team's service, one node
per provider, and the ledger, queue, settlement files and payees' bank of the features that are on; each edge with
the built-in signals of those features that show its health (moneypath.catalog.money_path). It passes
`moneypath catalog check` and the map lint (moneypath.check.map_lint) as written, for every feature set.

PCI scope: the service is scaffolded `pci: [transmit]` (card data, or what stands in for it, passes through it
on its way to the providers) and the providers `[store, process, transmit]`. A service on the payment path is in
scope until someone shows otherwise; narrowing the scope is a deliberate edit, never a default. The card-number
guard signal the lint asks of a node in scope (card_numbers_total) is a core signal every scaffold declares; for a
catalog written before without it (`init --money-path`), the scope is a comment saying what to declare first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from moneypath.catalog.conventions import Key

FIXED = ("customer", "ledger", "outbox", "settlement", "payee_bank")


def _key(text: str, taken: set[str]) -> str:
    """A lower_snake_case node key from a name, unique among `taken` (which it joins)."""
    base = re.sub(r"[^a-z0-9_]", "_", text.lower()).strip("_")
    base = base if re.fullmatch(r"[a-z][a-z0-9_]*", base) else f"n_{base}".rstrip("_")
    key, n = base, 2
    while key in taken:
        key, n = f"{base}_{n}", n + 1
    taken.add(key)
    return key


_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


def _q(text: str) -> str:
    """A name as YAML: plain when it is a plain key, else double-quoted, so it never loads as a bool or a null."""
    return text if re.fullmatch(r"[a-z][a-z0-9_]*", text) and text not in _YAML_WORDS else json.dumps(text)


def _sel(text: str) -> str:
    """A selector as a single-quoted YAML scalar (its double quotes kept as written)."""
    return "'" + text.replace("'", "''") + "'"


def _signals(pairs: list[tuple[str, str]]) -> list[str]:
    if not pairs:
        return ["      signals: {}  # none of its signals is declared: name one (the lint fails an edge without)"]
    return ["      signals:"] + [f"        {role}: {_sel(sel) if '{' in sel else sel}" for role, sel in pairs]


def money_path_yaml(service: str, providers: list[str], on: Callable[[str], bool],
                    has: Callable[[str], bool] = lambda key: True) -> str:
    """The commented `money_path:` section for `service` calling `providers`, with the features `on` says are on;
    `has`: whether a signal is declared (a catalog written before: a signal it lacks is left off its edge, and
    without the card-number guard the service's PCI scope is a comment to act on)."""
    taken = set(FIXED)
    me = _key(service, taken)
    nodes = {p: _key(p, taken) for p in providers}
    failing = "error|timeout|circuit_open" if on("breaker") else "error|timeout"
    lines = [
        "# The money path (`moneypath map` draws it; `moneypath lint` checks it): where money moves, the signals that",
        "# show each movement's health, and what guards each node. Add your other services (a node of another",
        "# service's catalog is `service/node`), acquirers, stores and payout rails as you know them. Annotations:",
        "#   pci: [store, process, transmit]  what the node does with card data (PCI DSS scope: the lint wants the",
        f"#        card-number guard {Key.CARD_NUMBERS_TOTAL} for a node of yours in scope)",
        "#   kyc: <the KYC trigger, in words>   region: <where its data lives>   jurisdiction: <its licence>",
        "money_path:",
        "  nodes:",
        "    customer: {kind: funding, label: \"Customer's card or account\"}",
    ]
    if has(Key.CARD_NUMBERS_TOTAL):
        lines += [f"    # In PCI scope until shown otherwise: narrow it only if card numbers never reach {service} (hosted",
                  f"    # fields, tokens only) and {Key.CARD_NUMBERS_TOTAL} stays at zero.",
                  f"    {_q(me)}: {{kind: service, label: {_q(service)}, pci: [transmit]}}  # region: e.g. eu-west-1"]
    else:
        lines += [f"    # In PCI scope if card numbers reach it: then declare {Key.CARD_NUMBERS_TOTAL} and add pci: "
                  "[transmit].",
                  f"    {_q(me)}: {{kind: service, label: {_q(service)}}}"]
    for p in providers:
        lines.append(f"    {_q(nodes[p])}: {{kind: provider, provider: {_q(p)}, pci: [store, process, transmit]}}")
    if on("ledger"):
        lines.append("    ledger: {kind: ledger, label: ledger}")
    if on("queues"):
        lines.append("    outbox: {kind: queue, label: outbox queue}")
    if on("reconciliation"):
        lines.append("    settlement: {kind: settlement, label: settlement files}")
    if on("payouts"):
        lines.append("    payee_bank: {kind: bank, label: \"payees' banks\"}  # kyc: payouts go to verified payees")
    edges = [("customer", me, "authorize", "pays", [
        ("rate", Key.AUTHORIZATIONS_TOTAL), ("errors", f'{Key.AUTHORIZATIONS_TOTAL}{{outcome=~"error|timeout"}}'),
        ("latency", Key.AUTHORIZATION_DURATION_SECONDS)])]
    for p in providers:
        edges.append((me, nodes[p], "authorize", None, [
            ("rate", f'{Key.PROVIDER_REQUESTS_TOTAL}{{provider="{p}"}}'),
            ("errors", f'{Key.PROVIDER_REQUESTS_TOTAL}{{provider="{p}",outcome=~"{failing}"}}'),
            ("latency", f'{Key.PROVIDER_REQUEST_DURATION_SECONDS}{{provider="{p}"}}')]))
    if on("ledger"):
        edges.append((me, "ledger", "record", None, [
            ("rate", Key.LEDGER_WRITES_TOTAL), ("errors", f'{Key.LEDGER_WRITES_TOTAL}{{outcome=~"failed|conflict"}}'),
            ("latency", Key.LEDGER_WRITE_DURATION_SECONDS)]))
    if on("queues"):
        edges.append((me, "outbox", "enqueue", None, [("depth", Key.QUEUE_DEPTH), ("errors", Key.DEAD_LETTERS_TOTAL)]))
    if on("reconciliation"):
        for p in providers:
            edges.append((nodes[p], "settlement", "settle", None, [
                ("lag", f'{Key.RECONCILIATION_OLDEST_UNRECONCILED_SECONDS}{{provider="{p}"}}'),
                ("errors", f'{Key.RECONCILIATION_MISMATCHES_TOTAL}{{provider="{p}"}}')]))
        edges.append(("settlement", "ledger" if on("ledger") else me, "reconcile", None, [
            ("errors", Key.RECONCILIATION_MISMATCHES_TOTAL), ("lag", Key.RECONCILIATION_OLDEST_UNRECONCILED_SECONDS)]))
    if on("payouts"):
        edges.append((me, "payee_bank", "pay_out", None, [
            ("rate", f'{Key.PROVIDER_REQUESTS_TOTAL}{{operation="payout"}}'),
            ("errors", f'{Key.PROVIDER_REQUESTS_TOTAL}{{operation="payout",outcome=~"{failing}"}}')]))
    lines += ["  # Each movement of money and the signals that show its health: rate and errors (counters), latency",
              "  # (a histogram), lag and depth (gauges).",
              "  edges:"]
    for source, target, movement, label, signals in edges:
        signals = [(role, sel) for role, sel in signals if has(sel.split("{")[0])]
        lines.append(f"    - from: {_q(source)}")
        lines.append(f"      to: {_q(target)}")
        lines.append(f"      movement: {movement}")
        if label:
            lines.append(f"      label: {_q(label)}")
        lines += _signals(signals)
    return "\n".join(lines) + "\n"
