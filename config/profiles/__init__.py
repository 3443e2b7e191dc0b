"""Kinematic printer profiles (TOML), read with importlib.resources by farmctl.gcode.profiles."""
