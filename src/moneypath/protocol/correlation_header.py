"""The correlation id header. A service accepts and echoes it (moneypath.instrument's middleware), and every
caller that drives one (drill load, load tests, the fault proxy, the provider simulator's webhooks) sends it,
so one id follows a payment across service, adapter, provider and webhook."""

HEADER = "x-correlation-id"
