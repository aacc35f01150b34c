"""kamtool.rpc."""
