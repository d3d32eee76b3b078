"""The Django shop (tests/foreign/djangoshop) is instrumented as docs/instrumenting.md shows a team doing it:
moneypath appears only where those pages put it (settings, urls, the schema, the payment plugins, the tasks,
the Celery app and gunicorn's config), through the documented modules, and never in its checkout, models or
provider client. Its committed catalog (ops/, written by `moneypath init`) names what the shop has."""

import ast
import re

import yaml

from tests.conftest import ROOT

SHOP = ROOT / "tests" / "foreign" / "djangoshop"
DOCUMENTED_PLACES = {"settings.py", "urls.py", "payments/schema.py", "payments/plugins.py", "payments/tasks.py",
                     "celery.py", "gunicorn.conf.py"}
DOCUMENTED_MODULES = {"moneypath.instrument.django", "moneypath.instrument.graphql", "moneypath.instrument.celery",
                      "moneypath.instrument.exposition"}


def shop_files():
    """The shop's own files: not its moneypath project (ops/) nor its README."""
    return [p for p in SHOP.rglob("*") if p.is_file() and "__pycache__" not in p.parts
            and p.relative_to(SHOP).parts[0] != "ops" and p.name != "README.md"]


def test_moneypath_only_in_the_documented_places():
    files = shop_files()
    assert any(p.name == "checkout.py" for p in files) and any(p.name == "0001_initial.py" for p in files)
    naming = {p.relative_to(SHOP).as_posix() for p in files if "moneypath" in p.read_text(errors="replace").lower()}
    assert naming == DOCUMENTED_PLACES


def test_only_the_documented_modules_are_imported():
    imported = set()
    for path in SHOP.rglob("*.py"):
        if path.relative_to(SHOP).parts[0] == "ops":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("moneypath"):
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(a.name for a in node.names if a.name.startswith("moneypath"))
    assert imported == DOCUMENTED_MODULES


def test_the_catalog_names_the_shops_providers_currencies_and_operations():
    catalog = yaml.safe_load((SHOP / "ops" / "moneypath.yaml").read_text())
    settings = (SHOP / "settings.py").read_text()
    providers = set(re.findall(r'^\s+"(\w+)": \{"url"', settings, re.M))
    assert set(catalog["providers"]) == providers == {"paystack", "mollie"}
    exponents = ast.literal_eval(re.search(r"^EXPONENTS = (\{.*\})$", (SHOP / "payments" / "money.py").read_text(),
                                           re.M)[1])
    assert set(catalog["currencies"]) <= set(exponents) and len({exponents[c] for c in catalog["currencies"]}) == 3
    # Every root field of the schema, as the operation name its storefront sends (checkoutCreate: CheckoutCreate).
    schema = ast.parse((SHOP / "payments" / "schema.py").read_text())
    roots = [node for node in schema.body if isinstance(node, ast.ClassDef) and node.name in ("Query", "Mutation")]
    fields = {"".join(part.title() for part in f.name.split("_")) for root in roots for f in root.body
              if isinstance(f, ast.FunctionDef)}
    operations = catalog["signals"]["graphql_operations_total"]["labels"]["operation"]
    assert set(operations) == fields == {"CheckoutCreate", "CheckoutPaymentCreate", "CheckoutComplete",
                                         "OrderCapture", "Order"}
    assert catalog["features"]["graphql"] is True
    assert {"/graphql/", "/health/"} <= set(catalog["signals"]["http_requests_total"]["labels"]["route"])
