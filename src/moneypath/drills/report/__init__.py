"""The drill report, rendered from the journal alone: report.md, index.html and PNG plots.

Modules:
rendering (the entry points: report.md, index.html and the plots),
reading (the journal as the report reads it, leniently),
sections (what the report says, as typed cells),
impact_section (impact tolerances and DORA classification),
report_map (the money-path map with the edges hit and the alerts that paged),
charts (the PNG plots),
formatting (how values are written).
"""
