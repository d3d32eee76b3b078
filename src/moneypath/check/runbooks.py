"""Check the runbook pages (runbooks/<alert-name-lowercase>.md) against the catalog and the generated rules.

A page is YAML front matter between two ``---`` lines, then markdown with the sections in `SECTIONS`.
`check_runbooks(catalog, root)` returns one line per problem, ``runbooks/x.md: key.path: what is wrong``
(``(file)`` when the problem is about the whole page); an empty list means every alert has a sound page.

What is checked: every alert the catalog generates has its page (the file its runbook_url names); the front
matter parses and validates (`FrontMatter`); alert and severity are the rule's (an SLO alert with page and ticket
rules is ``page``); owner is a catalog receiver and roles are catalog roles (a money-loss alert gives a role to
every receiver it pages); ``## First hour`` has "- Paged:" (naming the owner), "- Leads:", "- Customers:" and
"- Regulatory:" items, each of the last three naming one of the page's roles, the last with the decision's
deadline ("within 1 h of the page"); every series name in a diagnosis query exists — ``<namespace>_…`` names in the catalog
(histograms with _bucket/_count/_sum), names with a colon among the recording rules — and its labels, values,
rates and ranges pass the same checks as the rules (`moneypath.check.promql`); every query is pasted under
``## Diagnosis``; every PromQL query parses (all pages in one `promtool check rules` call); every SQL query is
one read (SELECT or WITH, no INSERT/UPDATE/DELETE/MERGE/INTO), and, given the team's database (``db_url``, a
SQLAlchemy URL: SQLite or PostgreSQL), one that the database can prepare (``EXPLAIN``; nothing is executed, and the
connection is read-only: SQLite opened with ``mode=ro``, PostgreSQL with ``default_transaction_read_only``). Without
a database the SQL is not prepared anywhere: `sql_steps` lists the steps left unchecked, for the lint to say so.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Literal
from urllib.parse import urlsplit

import yaml
from pydantic import Field, ValidationError, model_validator

from moneypath._common import yamlio
from moneypath._common.strict import StrictModel
from moneypath.catalog import Catalog
from moneypath.catalog.yaml_errors import FILE, error_line, error_text
from moneypath.check.promql import QueryContext, check_promql, check_queries
from moneypath.generate.rules import alert_rules

RUNBOOK_DIR = "runbooks"
SECTIONS = ("Meaning", "Impact", "First hour", "Diagnosis", "Mitigation", "Escalation", "Afterwards")
FRONT = "(front matter)"

_HEADING = re.compile(r"^##\s+(.+?)\s*$", re.MULTILINE)


class DiagnosisStep(StrictModel):
    """One piece of evidence: a PromQL query over the service's metrics, or SQL against the ledger database."""

    name: str = Field(min_length=1)
    promql: str | None = Field(default=None, min_length=1)
    sql: str | None = Field(default=None, min_length=1)
    expect: str = Field(min_length=1)  # what the evidence looks like when this is the cause, e.g. "> 0"

    @model_validator(mode="after")
    def _one_query(self):
        if (self.promql is None) == (self.sql is None):
            raise ValueError("give exactly one of promql or sql")
        return self


class RegulatoryClock(StrictModel):
    name: str = Field(min_length=1)
    due: str = Field(min_length=1)


class FrontMatter(StrictModel):
    alert: str = Field(min_length=1)
    severity: Literal["page", "ticket", "none"]  # none: the watchdog, a heartbeat
    owner: str = Field(min_length=1)
    roles: dict[str, str] = Field(min_length=1)  # catalog role → first-hour checkpoint
    diagnosis: list[DiagnosisStep] = Field(min_length=1)
    mitigation: list[str] = Field(min_length=1)
    regulatory: list[RegulatoryClock] = Field(default_factory=list)


class Page:
    """A page split into front matter (parsed YAML) and its markdown body."""

    def __init__(self, meta: object, body: str):
        self.meta, self.body = meta, body


def split_page(text: str) -> Page:
    """Front matter and body; ValueError with a one-line reason when there is no parsable front matter."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise ValueError("the page must start with a '---' line opening the YAML front matter")
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        raise ValueError("no closing '---' line after the YAML front matter")
    try:
        meta = yamlio.load("".join(lines[1:end]))
    except yaml.YAMLError as e:
        line = error_line(e)
        if line is not None:  # a line of the page (after its '---'), not of the front matter alone
            raise ValueError(f"not valid YAML at line {line + 1}: {error_text(e)}") from None
        raise ValueError(f"not valid YAML: {error_text(e)}") from None
    if not isinstance(meta, dict):
        raise ValueError("the front matter must be a YAML mapping")
    return Page(meta, "".join(lines[end + 1:]))


# ---------------------------------------------------------------- what the rules expect


def expected_pages(catalog: Catalog) -> dict[str, tuple[str, str, bool]]:
    """Page file name → (alert name, severity, money_loss) for every generated alert.

    An alert with several rules of different severities (the SLO burn alerts) is as severe as its worst rule."""
    pages: dict[str, tuple[str, str, bool]] = {}
    for group in alert_rules(catalog)["groups"]:
        for rule in group["rules"]:
            page = PurePosixPath(urlsplit(rule["annotations"]["runbook_url"]).path).name
            severity = rule["labels"]["severity"]
            money_loss = rule["labels"].get("money_loss") == "true"
            if page in pages:
                _, before, loss = pages[page]
                severity = "page" if "page" in (before, severity) else severity
                money_loss = money_loss or loss
            pages[page] = (rule["alert"], severity, money_loss)
    return pages


# ---------------------------------------------------------------- checks


def check_runbooks(catalog: Catalog, root: Path, promtool: bool = True, db_url: str | None = None) -> list[str]:
    """Every problem with the runbook pages under `root`, one line each; SQL steps are prepared on the database at
    `db_url` (opened read-only first: `BadDbUrl` or `DatabaseUnavailable` if it cannot be), else not at all."""
    db = open_database(db_url) if db_url is not None else None
    try:
        return _check_runbooks(catalog, Path(root), promtool, RunbookContext(catalog, db))
    finally:
        if db is not None:
            db.dispose()


def sql_steps(catalog: Catalog, root: Path) -> list[str]:
    """``runbooks/x.md: diagnosis.N.sql`` for every SQL step of the pages under `root` whose front matter is
    sound: the steps a lint without a database leaves unchecked."""
    steps = []
    for path in sorted((Path(root) / RUNBOOK_DIR).glob(f"{catalog.alert_prefix.lower()}*.md")):
        try:
            meta = FrontMatter.model_validate(split_page(path.read_text(encoding="utf-8")).meta)
        except (OSError, UnicodeDecodeError, ValueError):  # ValidationError is a ValueError; reported by the check
            continue
        steps += [f"{RUNBOOK_DIR}/{path.name}: diagnosis.{i}.sql" for i, step in enumerate(meta.diagnosis) if step.sql]
    return steps


def _check_runbooks(catalog: Catalog, root: Path, promtool: bool, context: RunbookContext) -> list[str]:
    problems: list[str] = []
    queries: list[tuple[str, str, str]] = []  # (page, key path, PromQL) for the one promtool run
    expected = expected_pages(catalog)
    for name, (alert, severity, money_loss) in expected.items():
        rel = f"{RUNBOOK_DIR}/{name}"
        path = root / rel
        if not path.is_file():
            problems.append(f"{rel}: {FILE}: missing page for alert {alert}")
            continue
        found, promql = check_page(path.read_text(encoding="utf-8"), alert, severity, money_loss, context)
        problems += [f"{rel}: {line}" for line in found]
        queries += [(rel, key, expr) for key, expr in promql]
    prefix = catalog.alert_prefix.lower()
    for path in sorted((root / RUNBOOK_DIR).glob(f"{prefix}*.md")):
        if path.name not in expected:
            problems.append(f"{RUNBOOK_DIR}/{path.name}: {FILE}: no alert links to this page")
    if promtool:
        problems += check_queries(queries, RUNBOOK_DIR)
    return list(dict.fromkeys(problems))


class RunbookContext(QueryContext):
    """The PromQL context plus the team's database the SQL steps are prepared on (an Engine), or None."""

    def __init__(self, catalog: Catalog, db=None):
        super().__init__(catalog)
        self.db = db


# ---------------------------------------------------------------- the team's database (--db-url)


class BadDbUrl(ValueError):
    """The database URL is not one the lint can open read-only (a usage error)."""


class DatabaseUnavailable(Exception):
    """The database could not be opened or read."""


def open_database(url: str):
    """A read-only SQLAlchemy engine on `url`, already connected once; `BadDbUrl` or `DatabaseUnavailable` (one-line
    messages) instead of a traceback. SQLite files are opened with ``mode=ro`` (a missing file is an error, never
    created); PostgreSQL sessions start with ``default_transaction_read_only=on``. A missing driver module raises
    ModuleNotFoundError (the command line names the extra to install)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    try:
        parsed = make_url(url)
        backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    except (ArgumentError, SQLAlchemyError, ValueError) as e:
        raise BadDbUrl(f"not a database URL: {_one_line(e)} (e.g. sqlite:///ledger.db, "
                       "postgresql+psycopg://user@host/db)") from None
    shown = parsed.render_as_string(hide_password=True)
    try:
        if backend == "sqlite" and driver == "pysqlite":
            engine = _sqlite_read_only(parsed)
        elif backend == "postgresql" and driver in ("psycopg", "psycopg2"):
            engine = create_engine(parsed, connect_args={"options": "-c default_transaction_read_only=on",
                                                         "connect_timeout": 10})
        else:
            raise BadDbUrl(f"{shown}: only SQLite (sqlite:///PATH) and PostgreSQL (postgresql+psycopg://…) "
                           "databases can be opened read-only")
        with engine.connect() as conn:  # open it now: a wrong URL is one line before any page is read
            conn.exec_driver_sql("SELECT count(*) FROM sqlite_master" if backend == "sqlite" else "SELECT 1")
    except SQLAlchemyError as e:
        raise DatabaseUnavailable(f"cannot open the database {shown}: {database_error(e)}") from None
    return engine


def _sqlite_read_only(url):
    """SQLite opened with ``mode=ro`` as a URI: the file must exist and nothing can be written to it."""
    import sqlite3
    from urllib.parse import urlencode

    from sqlalchemy import create_engine

    database = url.database or ""
    if database in ("", ":memory:"):  # an empty database of its own: nothing to write to
        return create_engine("sqlite://")
    if url.query.get("uri") == "true" and database.startswith("file:"):  # already a URI: keep its options
        options = {k: v for k, v in url.query.items() if k != "uri"}
        target = database
    else:
        options, target = {}, Path(database).absolute().as_uri()
    target += "?" + urlencode({**options, "mode": "ro"}, doseq=True)
    return create_engine("sqlite://", creator=lambda: sqlite3.connect(target, uri=True))


def database_error(e) -> str:
    """The database's own message on one line (no SQL, no parameters, no LINE/caret lines), at most 200 chars."""
    orig = getattr(e, "orig", None)
    primary = getattr(getattr(orig, "diag", None), "message_primary", None)  # psycopg: no LINE/caret lines
    line = _one_line(primary or orig or e)
    return line if len(line) <= 200 else line[:199] + "…"


def _one_line(e) -> str:
    return " ".join(str(e).split())


def check_page(text: str, alert: str, severity: str, money_loss: bool,
               context: RunbookContext) -> tuple[list[str], list[tuple[str, str]]]:
    """Problems as ``key.path: what`` and the page's PromQL queries as (key path, query)."""
    try:
        page = split_page(text)
    except ValueError as e:
        return [f"{FRONT}: {e}"], []
    problems = [f"## {title}: section missing" for title in SECTIONS
                if title not in {h.strip() for h in _HEADING.findall(page.body)}]
    try:
        meta = FrontMatter.model_validate(page.meta)
    except ValidationError as e:
        for err in e.errors():
            where = ".".join(str(p) for p in err["loc"]) or FRONT
            problems.append(f"{where}: {err['msg']}")
        return problems, []
    catalog = context.catalog
    if meta.alert != alert:
        problems.append(f"alert: {meta.alert!r} is not {alert}, the alert that links to this page")
    if meta.severity != severity:
        problems.append(f"severity: {meta.severity}, but the {alert} rule says {severity}")
    if meta.owner not in catalog.receivers:
        problems.append(f"owner: {meta.owner!r} is not a catalog receiver (known: {', '.join(catalog.receivers)})")
    for role in meta.roles:
        if role not in catalog.roles:
            problems.append(f"roles.{role}: not a catalog role (known: {', '.join(catalog.roles)})")
    if money_loss:
        covered = {catalog.roles[r].receiver for r in meta.roles if r in catalog.roles}
        for receiver in catalog.routes.money_loss:
            if receiver not in covered:
                problems.append(f"roles: {alert} is a money-loss alert that pages {receiver}; "
                                f"give a role with receiver {receiver} its checkpoint")
    if "## First hour: section missing" not in problems:
        problems += check_first_hour(_section(page.body, "First hour"), meta,
                                     owner_known=meta.owner in catalog.receivers)  # else reported once, above
    diagnosis_text = _normalise(_section(page.body, "Diagnosis")) if "## Diagnosis: section missing" not in problems \
        else None  # already reported once; not again for every query
    promql = []
    for i, step in enumerate(meta.diagnosis):
        key = f"diagnosis.{i}.{'promql' if step.promql else 'sql'}"
        query = step.promql or step.sql or ""
        if diagnosis_text is not None and _normalise(query) not in diagnosis_text:
            problems.append(f"{key}: not pasted under ## Diagnosis (the human and the drill run the same query)")
        if step.promql:
            problems += [f"{key}: {what}" for what in check_promql(step.promql, context)]
            promql.append((key, step.promql))
        else:
            problems += [f"{key}: {what}" for what in check_sql(step.sql or "", context)]
    return problems, promql


FIRST_HOUR = {  # the items `## First hour` must have ("- Label: ..."), and what each says
    "Paged": "who is paged",
    "Leads": "who leads the incident",
    "Customers": "who communicates with customers",
    "Regulatory": "who decides, and by when, whether a regulatory notification is needed",
}
_ITEM = re.compile(r"^[-*]\s+\**([A-Za-z ]+?)\**:\**\s*(.*)$")
_DEADLINE = re.compile(r"\bwithin\W+(\d+(\.\d+)?\s*(h|hours?|min|minutes?|d|days?|business days?)|the hour)\b",
                       re.IGNORECASE)  # the decision's deadline, not the notification clocks ("4 h after ...")


def check_first_hour(section: str, meta: FrontMatter, owner_known: bool = True) -> list[str]:
    """The first hour names people, not intentions: a "- Paged:" item naming the page's owner receiver, and
    "- Leads:", "- Customers:" and "- Regulatory:" items each naming one of the page's roles (front matter),
    the regulatory one with a deadline for the decision ("within 1 h of the page", "within 1 business day")."""
    items: dict[str, str] = {}
    label = None
    for line in section.splitlines():
        match = _ITEM.match(line.strip()) if re.match(r"^[-*]\s", line) else None
        if match:
            label = match[1].strip().capitalize()
            items[label] = items.get(label, "") + " " + match[2]
        elif re.match(r"^[-*]\s", line) or not line.strip():
            label = None
        elif label is not None:  # a continuation line of the item
            items[label] += " " + line.strip()
    key = "## First hour"
    problems = [f"{key}: no '- {label}:' item ({what})" for label, what in FIRST_HOUR.items() if label not in items]
    if owner_known and "Paged" in items and meta.owner not in items["Paged"]:
        problems.append(f"{key}: '- Paged:' does not name {meta.owner}, the page's owner")
    for label in ("Leads", "Customers", "Regulatory"):
        if label in items and not any(re.search(rf"\b{role.replace('_', '[ _]')}\b", items[label], re.IGNORECASE)
                                      for role in meta.roles):
            problems.append(f"{key}: '- {label}:' names none of this page's roles ({', '.join(meta.roles)})")
    if "Regulatory" in items and not _DEADLINE.search(items["Regulatory"]):
        problems.append(f"{key}: '- Regulatory:' gives no deadline for the decision (e.g. within 1 h of the page)")
    return problems


def _section(body: str, title: str) -> str:
    match = re.search(rf"^##\s+{re.escape(title)}\s*$(.*?)(?=^##\s|\Z)", body, re.MULTILINE | re.DOTALL)
    return match[1] if match else ""


def _normalise(text: str) -> str:
    return " ".join(text.split())


_SQL_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.DOTALL)  # literals, comments
_SQL_WRITES = re.compile(r"\b(insert|update|delete|merge|into)\b", re.IGNORECASE)  # a WITH may write; SELECT INTO


def check_sql(sql: str, context: RunbookContext) -> list[str]:
    """A read (SELECT or WITH, one statement, nothing that writes or locks), refused before it reaches any
    database; then, if the context has the team's database, prepared there (``EXPLAIN``, never run)."""
    from sqlalchemy.exc import SQLAlchemyError

    statement = sql.strip().rstrip(";")
    bare = _SQL_QUOTED.sub("''", statement)
    if not re.match(r"(?is)^(select|with)\b", statement) or ";" in bare or _SQL_WRITES.search(bare):
        return ["diagnosis queries are one read-only statement (SELECT or WITH)"]
    if context.db is None:
        return []  # not checked: `sql_steps` counts these for the lint's note
    try:
        with context.db.connect() as conn:
            if context.db.dialect.name == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            conn.execution_options(no_parameters=True).exec_driver_sql(f"EXPLAIN {statement}")
    except SQLAlchemyError as e:
        return [f"does not run on the --db-url database: {database_error(e)}"]
    return []


