"""The reference service's audit trail: a hash chain appended with each change, and its background check.

Modules:
trail (events appended in the transaction of each change),
chain_check (the background check of the hash chain),
walker (that check's walk in a child process).
"""
