"""One home per hand-written file format: drill files (drill), their request templates (requests) and the
expectations on query results they and the runbooks share (expect). The checks (moneypath.check) and the
runners (moneypath.drills) both import a format from here; a format imports the catalog and plumbing only."""
