"""The money-path map: the catalog section's graph, its layout, its live colours (docs/map.md)."""
