"""Records: what the farm's runs cost and tell (costs, quotes, order reports, statistics, the ledger).

A room of its own that depends downwards only (store, scheduler, gcode, config): the CLI commands
(`quote`, `orders report`, `stats`) and the web are faces over these services.

settings.py  the [costs] section of farm.toml
costs.py     the pure cost model: prices, grams from millimetres, a breakdown that names missing prices
"""
