from tests.support.runbooks import root  # noqa: F401 - a fixture: a copy of the shipped runbook pages
