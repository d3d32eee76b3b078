"""The locustfile and scenario file moneypath ships: `reference.py` loads the reference payment
service; `scenarios.yaml` defines its scenarios. Locust runs a locustfile by path (`locust -f`),
so these are package data found from here, never from the working directory.
See README.md here for the scenarios, the gates and a team's own locustfile.
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent
REFERENCE = HERE / "reference.py"
SCENARIOS = HERE / "scenarios.yaml"
