"""Catalog → artifacts: recording and alert rules, Alertmanager routing, the Prometheus config, compressed
rule copies for drills, Grafana dashboards, a sample exposition, and `moneypath build` writing them.
Reads only the catalog (and the library, for the sample).

Modules:
rules (recording rules, SLO burn-rate alerts and business alerts),
rule_text (thresholds and annotations every alerting rule writes alike),
readiness_rules (the readiness ticket rules),
routing (the Alertmanager configuration: who is paged for what),
receiver_blocks (production receivers' Alertmanager blocks),
prometheus_config (the Prometheus server configuration),
compress (the same rules run N times faster, for drills),
windows (a query confined to its run's own window),
dashboards (the Grafana dashboards),
openslo_export (the SLOs as OpenSLO documents),
sample (synthetic events for `moneypath metrics sample`),
build (`moneypath build`: every artifact written, or the stale ones listed),
export (`moneypath export`: the artifacts in each platform's native form).
"""
