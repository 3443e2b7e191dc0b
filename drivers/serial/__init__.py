"""USB serial (Marlin-family) printers: transport, pure protocol, driver."""
