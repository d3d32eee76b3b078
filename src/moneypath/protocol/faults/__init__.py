"""Fault switches, shared by every fault API (the fault proxy, the provider simulator, the reference service).

Modules:
switches (a fault's checked parameters, its target, its end),
vocabularies (what each fault API can set).
"""
