"""Plumbing shared by the layers above, written once: atomic writes, the Prometheus HTTP client,
problem+json, the report model (markdown and HTML), plots, the strict model base, SIGTERM ending a command
as Ctrl-C does, and the time factor (timefactor: the one conversion between a compressed stack's clock and
production's). Wire formats live in moneypath.protocol. Imports no other moneypath package.

Modules:
atomic (a file written whole or not at all),
exit_codes (the exit code of every command, defined once),
interrupt (SIGTERM ending a command as Ctrl-C does),
plots (Prometheus series as PNG line plots),
problem (errors as RFC 9457 problem+json for every HTTP face),
prometheus (the Prometheus HTTP API client and its one error),
report (one report model rendered to markdown and HTML, a report directory written whole),
strict (the base of every hand-written file format's model),
timefactor (a compressed stack's clock against production's),
verdict (pass, fail, not measured: the result types, their JSON and each one's exit code),
yamlio (YAML read through libyaml's C parser).
"""
