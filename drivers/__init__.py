"""Printer drivers (installed as `farmctl.drivers`): transports, protocols and drivers that
give the daemon one interface to every kind of printer."""
