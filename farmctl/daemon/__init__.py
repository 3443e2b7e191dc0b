"""The daemon: one worker per printer, the dispatch loop, the control path."""
