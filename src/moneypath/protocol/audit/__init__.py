"""The audit trail's wire format, shared by the reference service and `moneypath audit`: the hash chain (chain)
and its signed checkpoints (checkpoint)."""
