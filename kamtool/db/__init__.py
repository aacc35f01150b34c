"""kamtool.db."""
