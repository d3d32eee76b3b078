"""The drill report, rendered from the journal alone: rendering (the entry points), reading (the journal as
the report reads it), sections, charts and formatting."""
