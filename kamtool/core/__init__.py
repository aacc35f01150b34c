"""kamtool.core."""
