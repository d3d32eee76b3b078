"""`moneypath loadtest soak`: drift over a long run, measured beside it (sampling) and judged (drift)."""
