"""`moneypath init DIR`: a project for your own payment service."""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

from moneypath._common.exit_codes import ExitCode
from moneypath.catalog.currencies import ISO_4217_EXPONENTS
from moneypath.catalog.features import FEATURES

NAME_MAX = 64  # a name becomes a file name (runbook pages, drills): well under any file system's 255

EPILOG = f"""features (optional domains; off unless listed):
{chr(10).join(f"  {name:<15} {f.description}" for name, f in FEATURES.items())}

example:
  moneypath init ops --service tickets --providers komoju,knet --currencies JPY,KWD \\
      --features cost,idempotency --methods card,konbini --routes /charges,/charges/{{charge_id}}
  moneypath init ops --service shop --providers paystack,mollie --currencies NGN,EUR \\
      --routes /graphql/ --operations CheckoutCreate,CheckoutComplete   # GraphQL: feature graphql on

Running init again never overwrites a file a person edited; it says what it kept."""


def add_commands(commands, catalog_arg, state_arg) -> None:
    init = commands.add_parser(
        "init", help="write a project for your own service: catalog, rules, dashboards, runbooks, drills",
        description="Write a working moneypath project into DIR: a commented catalog (moneypath.yaml) for your "
                    "service, its money path (money_path:) included, the generated rules, routing and dashboards, "
                    "a runbook page for every alert, a tabletop drill for every paging alert and a locustfile "
                    "template. With a catalog already in DIR, init uses it (options that shape the catalog are "
                    "then not needed) and refreshes the rest.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    init.add_argument("dir", metavar="DIR", help="project directory (created if missing)")
    init.add_argument("--service", metavar="NAME", help="your service's name (default: DIR's name)")
    init.add_argument("--providers", metavar="A,B", help="your payment providers, lower_snake_case ids")
    init.add_argument("--currencies", metavar="USD,JPY", help="ISO 4217 codes you charge in")
    init.add_argument("--features", metavar="F,G", default="",
                      help=f"optional domains you have (default: none): {', '.join(FEATURES)}")
    init.add_argument("--methods", metavar="M,N", default="card", help="payment methods (default: card)")
    init.add_argument("--routes", metavar="R,S", default="",
                      help="your API's route templates, e.g. /charges,/charges/{charge_id} (/healthz is added)")
    init.add_argument("--operations", metavar="A,B", default="",
                      help="your GraphQL operation names (operationName), e.g. CheckoutCreate,CheckoutComplete; "
                           "switches the graphql feature on")
    init.add_argument("--oncall", metavar="RECEIVER", help="who is paged (default: <service>-oncall)")
    init.add_argument("--platform", metavar="PLATFORM", default="prometheus",
                      help="where you run: prometheus (default: the plain files only), kube (kube-prometheus-stack), "
                           "mimir or vm; kube, mimir and vm also get `moneypath export PLATFORM`'s files, with its "
                           "defaults, in DIR/deploy/PLATFORM/ (`moneypath export --help`)")
    init.add_argument("--money-path", action="store_true",
                      help="print the money_path: section (the money-path map `moneypath map` draws) init scaffolds "
                           "for DIR's catalog, from its providers and features, and write nothing: for a catalog "
                           "written before init wrote one (paste it at the end and make it yours)")
    init.set_defaults(run=_run)


def _list(text: str | None, option: str | None = None) -> list[str]:
    """The comma-separated values of a list option; with `option`, a value given twice is refused (ValueError
    naming the option), case aside, since each value becomes a label value or a catalog key."""
    values = [part.strip() for part in (text or "").split(",") if part.strip()]
    if option is not None:
        seen: set[str] = set()
        twice = [v for v in values if v.casefold() in seen or seen.add(v.casefold())]
        if twice:
            raise ValueError(f"{option}: {', '.join(dict.fromkeys(twice))} given more than once")
    return values


def options_from(args):
    """Init's options, or None when DIR has a catalog already; ValueError with one line for bad input."""
    from moneypath.scaffold.catalog_template import ScaffoldOptions

    if not args.dir.strip():
        raise ValueError("DIR is empty: name the project directory (e.g. ops)")
    for name in ("service", "oncall"):
        value = getattr(args, name)
        if value is not None and not value.strip():
            raise ValueError(f"--{name} is empty: give a name or leave the option out")
    root = Path(args.dir)
    try:
        has_catalog = (root / "moneypath.yaml").exists()
    except OSError as exc:  # a name too long for the file system, a loop of links
        raise ValueError(f"DIR {args.dir[:40]!r}{'...' if len(args.dir) > 40 else ''}: {exc.strerror or exc}") from None
    if has_catalog:
        shaping = ("service", "providers", "currencies", "features", "methods", "routes", "operations", "oncall")
        given = [f"--{name}" for name in shaping
                 if getattr(args, name) not in (None, "", "card")]
        if given:
            print(f"moneypath init: {root}/moneypath.yaml exists, so {', '.join(given)} change nothing: "
                  "edit the catalog instead", file=sys.stderr)
        return None
    providers, currencies = _list(args.providers, "--providers"), _list(args.currencies, "--currencies")
    if not providers or not currencies:
        raise ValueError(f"{root}/moneypath.yaml does not exist yet: give --providers and --currencies to write it")
    for p in providers:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", p):
            raise ValueError(f"--providers: {p!r} is not a lower_snake_case id (e.g. stripe, adyen_eu)")
    for cur in currencies:
        if cur.upper() not in ISO_4217_EXPONENTS:
            raise ValueError(f"--currencies: {cur!r} is not an ISO 4217 code moneypath knows (e.g. USD, JPY, KWD)")
    features = _list(args.features, "--features")
    unknown = [f for f in features if f not in FEATURES]
    if unknown:
        close = difflib.get_close_matches(unknown[0], FEATURES, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ValueError(f"--features: unknown {', '.join(unknown)} (known: {', '.join(FEATURES)}){hint}")
    operations = _list(args.operations, "--operations")
    for op in operations:
        if not re.fullmatch(r"[_A-Za-z][_0-9A-Za-z]*", op) or len(op) > NAME_MAX:
            raise ValueError(f"--operations: {op[:40]!r} is not a GraphQL operation name (letters, digits and _, "
                             f"at most {NAME_MAX}; e.g. CheckoutComplete)")
    if operations:
        features.append("graphql")
    elif "graphql" in features:
        raise ValueError("--features graphql: give --operations, your GraphQL operation names (e.g. CheckoutCreate)")
    routes = _list(args.routes, "--routes")
    for r in routes:
        if not re.fullmatch(r"/[^\s#]*", r):
            raise ValueError(f"--routes: {r!r} is not a route template starting with / (e.g. /charges/{{charge_id}})")
    service = args.service if args.service is not None else root.resolve().name
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", service):
        raise ValueError(f"--service: {service!r}: use letters, digits, - and _ (it names metrics and alerts)")
    methods = _list(args.methods, "--methods")
    for value, option in ((service, "--service"), (args.oncall or "", "--oncall"), *((m, "--methods") for m in methods)):
        if len(value) > NAME_MAX:
            raise ValueError(f"{option}: {value[:20]!r}... is {len(value)} characters; at most {NAME_MAX}")
    if args.oncall is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.@-]*", args.oncall):
        raise ValueError(f"--oncall: {args.oncall!r}: use letters, digits, ., @, - and _ (it names a receiver)")
    for m in methods:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", m):
            raise ValueError(f"--methods: {m!r}: use letters, digits, ., - and _ (it is a label value)")
    return ScaffoldOptions(service=service, providers=providers, currencies=[c.upper() for c in currencies],
                           features={name: name in features for name in FEATURES}, methods=methods or ["card"],
                           routes=routes + (["/healthz"] if "/healthz" not in routes else []), oncall=args.oncall or "",
                           operations=operations)


def _run(args) -> int:
    from moneypath.generate.export import PLATFORMS
    from moneypath.scaffold.project import InitError, init_project

    if args.money_path:
        return _print_money_path(args)
    try:
        if args.platform not in PLATFORMS:
            raise ValueError(f"--platform: unknown {args.platform!r} (known: {', '.join(PLATFORMS)})")
        options = options_from(args)
    except ValueError as exc:
        print(f"moneypath init: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    try:
        result = init_project(Path(args.dir), options, args.platform)
    except InitError as exc:
        print(f"moneypath init: {exc}", file=sys.stderr)
        return ExitCode.NOT_MEASURED  # refused: a project init may not touch (a manifest naming ../x) or cannot write
    c = result.catalog
    for label, paths in (("wrote", result.written), ("built", result.built), ("removed", result.removed)):
        for rel in paths:
            print(f"{label:<8}{rel}")
    for rel in result.kept:
        print(f"kept    {rel} (edited since init wrote it; delete it to get a fresh one)")
    for rel in result.orphaned:
        print(f"kept    {rel} (edited, but no alert links to it any more: delete it or link it)")
    if not (result.written or result.built or result.removed):
        print("nothing to write: every file is up to date with the catalog")
    off = [name for name in FEATURES if not c.enabled(name)]
    print(f"\n{c.service}: {len(c.signals)} signals, {len(c.slos)} SLOs, {len(c.alerts)} alerts (+{len(c.slos)} SLO "
          f"burn-rate alerts), providers "
          f"{', '.join(c.providers)}, currencies {', '.join(c.currencies)}; features off: {', '.join(off) or 'none'}")
    refresh = "" if args.platform == "prometheus" else (
        f"\n  moneypath export {args.platform} --catalog {args.dir}/moneypath.yaml --out {args.dir}/deploy/{args.platform}")
    print(f"next: edit {args.dir}/moneypath.yaml and the TODOs in {args.dir}/runbooks/, then\n"
          f"  moneypath build --root {args.dir}\n  moneypath lint --root {args.dir}{refresh}")
    return 0


def _print_money_path(args) -> int:
    """`init DIR --money-path`: the section for DIR's catalog (or for the options, without one) on stdout; exit 1
    with the problems, one line each, when it does not fit that catalog as printed (a signal's values changed)."""
    from moneypath.catalog import CatalogError, load_catalog, parse_catalog
    from moneypath.scaffold.map_section import money_path_yaml

    path = Path(args.dir) / "moneypath.yaml"
    if not path.is_file():
        try:
            o = options_from(args)
        except ValueError as exc:
            print(f"moneypath init: {exc}", file=sys.stderr)
            return ExitCode.USAGE
        print(money_path_yaml(o.service, o.providers, o.on), end="")
        return 0
    c = load_catalog(path)
    if c.money_path is not None:
        print(f"moneypath init: {c.located('money_path')}: money_path: already declared; nothing to scaffold",
              file=sys.stderr)
        return 0
    section = money_path_yaml(c.service, list(c.providers), c.enabled, c.has)
    print(section, end="")
    try:
        parse_catalog(path.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + section, str(path))
    except CatalogError as exc:
        print(f"moneypath init: pasted at the end of {path}, the section needs these changes:", file=sys.stderr)
        for line in exc.problems:
            print(line, file=sys.stderr)
        return ExitCode.FAIL
    return 0
