"""printer_sim: a simulated Marlin 2.x printer for testing serial hosts without hardware."""

__version__ = "0.1.0"
