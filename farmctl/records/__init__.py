"""Records: what the farm's runs cost and tell (costs, quotes, order reports, statistics, the ledger).

A room of its own that depends downwards only (store, scheduler, gcode, config): the CLI commands
(`quote`, `orders report`, `stats`, `printers set --spool-g`) are faces over these services, and any
other face (the web has no route for them yet) calls the same ones. The [costs] section of farm.toml
is `CostSettings` in farmctl/config_schema.py.

costs.py    the pure cost model: prices, grams from millimetres, a breakdown that names missing prices
quote.py    price and earliest finish of files not queued (a what-if pass of the scheduler)
report.py   an order's report from its runs, and the timeline picture's geometry
render.py   the report as CSV, HTML (SVG timeline) and PDF (fpdf2, imported only to make one)
stats.py    the farm's statistics over a window
eta.py      ETA that learns: what the per-printer correction buys, replayed on a history
ledger.py   the loaded spool's grams (`printers set ID --spool-g`)
timefmt.py  the documents' times, and the --since/--until dates
"""
