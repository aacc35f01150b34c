"""kamtool.sip."""
