"""One module per raw source: ``events`` (semantic rows) and ``render`` (raw lines + truth)."""
