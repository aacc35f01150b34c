"""kamtool.tui."""
