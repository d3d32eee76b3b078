"""The reference service's audit trail: trail (events appended in the transaction of each change), chain_check
(the background check of the hash chain) and walker (that check's walk in a child process)."""
