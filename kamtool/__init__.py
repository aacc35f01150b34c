"""kamtool: manage Kamailio and run a lightweight embedded SIP proxy."""

__version__ = "0.1.0"
