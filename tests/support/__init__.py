"""What both tiers share: helpers and fixtures that unit and integration tests import, so that no test module
imports another (tests/unit and tests/integration import from here and from tests/conftest.py only)."""
