"""HTTP endpoints of the gateway, one module each."""
