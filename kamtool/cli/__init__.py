"""kamtool.cli."""
