"""Running parts, talked to over HTTP: the local stack (Prometheus, Alertmanager, pager, and the reference
system as processes), the pager, the snapshot page, and the Grafana push."""
