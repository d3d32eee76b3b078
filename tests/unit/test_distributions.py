"""No extra installs a distribution that shadows another one's import name (urllib3-future's `urllib3` over
urllib3's broke `requests` code in a team's service): read from the distributions `moneypath[all]` pulls into
this environment (the working tree's pyproject.toml, resolved over what is installed)."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

from tests.distributions import clashes, closure, import_names, installed, project_requirements


def test_no_two_distributions_of_all_provide_the_same_import_name():
    dists = installed()
    names, missing = closure(project_requirements(["all"]), dists)
    assert not missing, f"moneypath[all] needs {missing}, not installed here: `make setup` (pip install -c constraints.txt)"
    assert {"opentelemetry-sdk", "httpx", "fastapi", "locust"} <= names  # the extras were resolved
    assert "grafana-client" not in names and "urllib3-future" not in names
    found = clashes(dists[name] for name in names)
    assert not found, "distributions of moneypath[all] that install the same import name: " + "; ".join(
        f"{name} from {', '.join(owners)}" for name, owners in found.items())


def _dist(site: Path, name: str, files: list[str]) -> md.Distribution:
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "RECORD").write_text("".join(f"{f},,\n" for f in [*files, f"{info.name}/METADATA", f"{info.name}/RECORD"]))
    return md.PathDistribution(info)


def test_the_check_finds_a_shadowing_pair_and_allows_shared_namespace_packages(tmp_path):
    dists = [
        _dist(tmp_path, "urllib3", ["urllib3/__init__.py", "urllib3/poolmanager.py"]),
        _dist(tmp_path, "urllib3-future", ["urllib3/__init__.py", "urllib3/_async/__init__.py", "../../bin/x"]),
        # PEP 420 namespace packages: several distributions under `opentelemetry`, none owning it
        _dist(tmp_path, "opentelemetry-api", ["opentelemetry/trace/__init__.py", "opentelemetry/context/__init__.py"]),
        _dist(tmp_path, "opentelemetry-sdk", ["opentelemetry/sdk/__init__.py", "opentelemetry/sdk/metrics/__init__.py"]),
        _dist(tmp_path, "six", ["six.py", "__pycache__/six.cpython-311.pyc"]),
        _dist(tmp_path, "intruder", ["opentelemetry/sdk/extra.py"]),  # writes into another's regular package
    ]
    assert import_names(dists[1]) == {"urllib3"}
    assert import_names(dists[2]) == {"opentelemetry.trace", "opentelemetry.context"}
    assert import_names(dists[4]) == {"six"}
    assert clashes(dists) == {"opentelemetry.sdk": ["intruder", "opentelemetry-sdk"],
                              "urllib3": ["urllib3", "urllib3-future"]}
    assert clashes(dists[2:5]) == {}
