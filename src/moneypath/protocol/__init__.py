"""Wire formats shared by the reference system and the tools, each in one place: scoped bearer tokens, the
correlation id header, the fault switch and its vocabularies, the audit hash chain and its signed checkpoints.
Imports no other moneypath package; the library takes the correlation header alone.

Modules:
tokens (scoped, short-lived bearer tokens),
correlation_header (the correlation id header),
faults (the fault switch and its vocabularies),
audit (the audit hash chain and its signed checkpoints).
"""
