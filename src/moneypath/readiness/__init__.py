"""Readiness as evidence: the drill history (signed records of every drill run), readiness as Prometheus series,
and the pack an auditor reads. Below moneypath.drills: nothing here imports a drill-run module; the runner hands
a finished run's journal and plain data (the alerts' severities) to the recorder.

Results are moneypath._common.verdict's types. Whether each paging alert is ready is judged in
moneypath.check.rehearsals, from the records.

Modules:
history (the hash-chained records: append, read, verify, the history's verdict),
records (a record built from a drill's journal, and the Recorder the runner calls after each run),
checkpoints (signed checkpoints of the history's head, kept outside it),
catalogs (the catalog each record names, a copy per sha256 beside the history),
gauges (`moneypath readiness serve` and its textfile: readiness as Prometheus series),
evidence (`moneypath evidence`: the pack of a period, its manifest, and its check),
control_map (each control covered or missing),
dataflow (the pack's data-flow diagram: the money-path map of the period's catalog),
auditor_page (the pack's index.html and VERIFY.txt),
sshsig (the pack's signature, OpenSSH's SSHSIG format).
"""
