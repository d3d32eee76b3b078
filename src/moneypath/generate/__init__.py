"""Catalog → artifacts: recording and alert rules, Alertmanager routing, the Prometheus config, compressed
rule copies for drills, Grafana dashboards, a sample exposition, and `moneypath build` writing them.
Reads only the catalog (and the library, for the sample)."""
