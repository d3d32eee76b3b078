"""The shop's one app: checkouts, payments (a row per attempt, the provider's reference on it) and orders."""
