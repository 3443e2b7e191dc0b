"""farmctl: run a farm of 3D printers from one controller."""

__version__ = "0.1.0"
