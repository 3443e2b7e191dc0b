"""Bundled printer profiles (TOML files read with importlib.resources)."""
