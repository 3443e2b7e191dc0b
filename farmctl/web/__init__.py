"""The HTTP face of the farm."""
