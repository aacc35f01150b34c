"""The edge: RTPEngine ng control, SIP over WebSocket, topology hiding (issue #18)."""
