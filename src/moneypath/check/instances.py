"""Rules that stay right when a service runs as several instances, each scraped on its own (`instance`, `pod`).

Two mistakes only show once there is more than one instance, so a single-instance stack never sees them:
- an alert whose expression keeps an instance label pages once per instance (N pages for one incident);
- a `sum` across instances of a gauge every instance reports for one shared thing (the catalog's
  `aggregate: max|min`, e.g. an imbalance read from the shared ledger) counts it N times.
(And the converse: a `max`/`min` across instances of an additive gauge reads one instance's share.)

Expressions are parsed with promql-parser (the Prometheus grammar, compiled), and each node is given the
series whose instance label reaches its output: a selector keeps it, an aggregation keeps it only when
`by` names it or `without` does not, a vector match keeps what Prometheus's result labels keep, `absent`,
`vector` and scalars have none. A recorded series carries what its recording rule's expression carries.
"""

from __future__ import annotations

from collections.abc import Iterable

from moneypath.catalog import Catalog
from moneypath.catalog.conventions import INSTANCE_LABELS
from moneypath.check.promql import metric_index

try:
    import promql_parser as pp
except ModuleNotFoundError:  # the tools extra declares it; say so instead of failing the whole lint
    pp = None

NO_PARSER = "promql-parser is not installed (pip install 'moneypath[tools]'): instance aggregation not checked"
# Functions whose result has none of their argument's labels (absent() keeps only equality matchers').
_NO_LABELS = {"absent", "absent_over_time", "vector", "scalar", "time", "pi", "minute", "hour", "day_of_week",
              "day_of_month", "day_of_year", "days_in_month", "month", "year"}
_COUNTER_FUNCTIONS = {"rate", "irate", "increase"}
_SAME_SERIES = {"topk", "bottomk", "limitk", "limit_ratio"}  # aggregations that return input series as they are
_SHARE = {"sum"}  # what adds instances' values up
_PICK = {"max", "min"}  # what takes one instance's value
SCALAR = None  # no labels at all: a number, time(), scalar()


class InstanceCheck:
    """Built once per rule set: the catalog's signals and what each recording rule's series carries."""

    def __init__(self, catalog: Catalog, rules: Iterable[dict]):
        self.metrics = metric_index(catalog)
        self._record_exprs = {str(r["record"]): str(r.get("expr", "")) for r in rules if "record" in r}
        self._records: dict[str, frozenset[str]] = {}

    def alert(self, expr: str) -> list[str]:
        """Problems of an alerting rule: pages per instance, and the aggregation problems of any expression."""
        tree = _parse(expr)
        if tree is None:
            return []  # promtool names the syntax error
        found = self.aggregations(expr)
        carried = self._carried(tree)
        if carried:
            found.append(f"keeps the label {'/'.join(INSTANCE_LABELS)} of {', '.join(sorted(carried))}: N instances "
                         "page N times for one incident; aggregate it away (sum/max by (...) the labels the page needs)")
        return found

    def aggregations(self, expr: str) -> list[str]:
        """Sums across instances of a shared gauge (double counting) and max/min across instances of an additive
        one; for any expression (recording rule, alert, dashboard query)."""
        tree = _parse(expr)
        if tree is None:
            return []
        found: list[str] = []

        def visit(node) -> None:
            if isinstance(node, pp.AggregateExpr) and not self._keeps_instance(node):
                op = str(node.op)
                for name in sorted(self._carried(node.expr)):
                    sig = self.metrics[name][0] if name in self.metrics else None
                    if sig is None or sig.type != "gauge":
                        continue
                    if op in _SHARE and sig.across_instances != "sum":
                        found.append(f"{op}() across instances of {name}, one shared value every instance reports "
                                     f"(aggregate: {sig.across_instances}): N instances count it N times; use "
                                     f"{sig.across_instances} by (...)")
                    elif op in _PICK and sig.across_instances == "sum":
                        found.append(f"{op}() across instances of {name}, which instances add up (aggregate: sum): "
                                     "it reads one instance's share; use sum by (...)")

        pp.walk(tree, visit)
        return list(dict.fromkeys(found))

    # ------------------------------------------------------------ what reaches a node's output

    def _keeps_instance(self, node) -> bool:
        return bool(self._carried(node))

    def _carried(self, node) -> frozenset[str] | None:
        """The series whose instance label reaches this node's output; SCALAR for a value without labels."""
        if isinstance(node, pp.VectorSelector):
            return self._selector(node)
        if isinstance(node, pp.MatrixSelector):
            return self._selector(node.vector_selector)
        if isinstance(node, (pp.ParenExpr, pp.UnaryExpr, pp.SubqueryExpr)):
            return self._carried(node.expr)
        if isinstance(node, (pp.NumberLiteral, pp.StringLiteral)):
            return SCALAR
        if isinstance(node, pp.AggregateExpr):
            inner = self._carried(node.expr) or frozenset()
            if str(node.op) in _SAME_SERIES:
                return inner
            mod = node.modifier
            if mod is None:
                return frozenset()
            named = any(label in mod.labels for label in INSTANCE_LABELS)
            keeps = named if mod.type == pp.AggModifierType.By else not named
            # count_values(label, …) by (instance) keeps instance whatever the input had
            return inner if keeps else frozenset()
        if isinstance(node, pp.Call):
            name = node.func.name
            if name in _NO_LABELS:
                return frozenset() if node.func.return_type == pp.ValueType.Vector else SCALAR
            if name in ("label_replace", "label_join") and str(node.args[1]).strip('"\'') in INSTANCE_LABELS:
                return frozenset({f"{name}()"})  # writes an instance label of its own
            vectors = [self._carried(a) for a in node.args if isinstance(a, pp.Expr)]
            vectors = [v for v in vectors if v is not SCALAR]
            if name in _COUNTER_FUNCTIONS:  # on a gauge that is the rate lint's problem: name it, judge it no further
                vectors = [frozenset(f"{name}({n})" if self._is_gauge(n) else n for n in v) for v in vectors]
            if node.func.return_type != pp.ValueType.Vector:
                return SCALAR
            return frozenset().union(*vectors) if vectors else frozenset()
        if isinstance(node, pp.BinaryExpr):
            return self._binary(node)
        return frozenset()

    def _is_gauge(self, name: str) -> bool:
        return name in self.metrics and self.metrics[name][0].type == "gauge"

    def _selector(self, node) -> frozenset[str]:
        name = node.name or ""
        if ":" in name:  # a recorded series carries what its rule's expression carries
            return self._record(name)
        if name in ("ALERTS", "ALERTS_FOR_STATE"):
            return frozenset()  # an alert's own labels, judged on that alert
        return frozenset({name})

    def _record(self, name: str) -> frozenset[str]:
        if name not in self._records:
            self._records[name] = frozenset()  # a rule reading itself cannot loop here
            tree = _parse(self._record_exprs.get(name, ""))
            self._records[name] = (self._carried(tree) or frozenset()) if tree is not None else frozenset()
        return self._records[name]

    def _binary(self, node) -> frozenset[str] | None:
        lhs, rhs = self._carried(node.lhs), self._carried(node.rhs)
        if lhs is SCALAR or rhs is SCALAR:
            return rhs if lhs is SCALAR else lhs
        op, mod = str(node.op), node.modifier
        matching = mod.matching if mod is not None else None
        card = mod.card if mod is not None else None
        if op in ("and", "unless"):
            return lhs  # the left side's series, filtered
        if op == "or":
            return lhs | rhs
        # Prometheus's result labels: the "many" side's (plus group_left/right labels), or for one-to-one
        # the left side's, reduced to on(...) or without ignoring(...).
        if card == pp.VectorMatchCardinality.ManyToOne:
            return lhs | (rhs if _names_instance(mod.group_labels) else frozenset())
        if card == pp.VectorMatchCardinality.OneToMany:
            return rhs | (lhs if _names_instance(mod.group_labels) else frozenset())
        if matching is not None:
            named = _names_instance(matching.labels)
            keeps = named if matching.type == pp.LabelModifierType.Include else not named
            return lhs if keeps else frozenset()
        return lhs


def parser_available() -> bool:
    return pp is not None


def _names_instance(labels) -> bool:
    return any(label in (labels or ()) for label in INSTANCE_LABELS)


def _parse(expr: str):
    if pp is None or not expr.strip():
        return None
    try:
        return pp.parse(expr)
    except Exception:  # noqa: BLE001 - the binding raises plain exceptions; promtool reports the syntax error
        return None
