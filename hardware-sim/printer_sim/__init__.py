"""printer_sim: a simulated Marlin 2.x printer for testing serial hosts without hardware.

What it must do is stated as rules S1-S14 (and the host rules H1-H36 it lets tests exercise) in the
repository's docs/serial-rules.md; module comments cite those ids.
"""

__version__ = "0.1.0"
