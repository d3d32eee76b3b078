"""The money-path map: the catalog section's graph, its layout, its live colours (docs/map.md).

Modules:
graph (the `money_path:` sections of one or more catalogs as one graph),
layout (where each box and edge goes, from Graphviz),
shapes (each node kind's SVG shape),
render (the map as one self-contained SVG),
legend (every mark the map draws, explained),
page (the map as one self-contained HTML page),
marks (what the map shows on each node and edge: state, figures, why),
live_health (each edge and node read from Prometheus),
figures (the PromQL and the written figures of each edge),
objectives (what an edge is judged against),
edge_state (an edge's state from what was read of it),
scrape_health (whether an edge's scrape targets are alive),
reads (which series and raw metrics an expression reads).
"""
