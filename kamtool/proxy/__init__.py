"""kamtool.proxy."""
