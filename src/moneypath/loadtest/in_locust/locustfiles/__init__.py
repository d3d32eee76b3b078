"""The locustfile moneypath adds to every run: `moneypath_harness.py` (see moneypath.loadtest.command.launch). Locust
loads a locustfile by path and puts its directory on sys.path, so it lives in a directory of its own, found
from here wherever moneypath is installed. The reference service's locustfile and scenarios are a project's,
in loadtests/ beside the catalog, as `moneypath init` writes them for a team.
"""

from pathlib import Path

HARNESS = Path(__file__).resolve().parent / "moneypath_harness.py"
