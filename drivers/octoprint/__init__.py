"""Printers behind OctoPrint, through octorest."""
