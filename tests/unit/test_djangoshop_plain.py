"""The Django shop under tests/foreign/djangoshop is a service moneypath has never seen: none of its files
names moneypath, so instrumenting it later is done from the docs, in its own code, visibly."""

from tests.conftest import ROOT

SHOP = ROOT / "tests" / "foreign" / "djangoshop"


def test_the_shop_never_mentions_moneypath():
    files = [p for p in SHOP.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert any(p.name == "schema.py" for p in files) and any(p.name == "0001_initial.py" for p in files)
    naming = [str(p.relative_to(ROOT)) for p in files if "moneypath" in p.read_text(errors="replace").lower()]
    assert naming == []
