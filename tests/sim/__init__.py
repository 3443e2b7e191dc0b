"""Transcript tests of the printer simulator (hardware-sim), with plain pyserial."""
