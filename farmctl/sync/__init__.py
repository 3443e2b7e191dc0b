"""`farmctl sync`: a site (a truck, a remote workshop) and the central farm made one farm (issue 13).

Run on the site. One sync is: check this farm home against the centre's site registry, **pull** the
jobs reserved for this site (files first, verified by sha256, then their orders and the jobs), then
**push** everything the site did (its own orders and jobs, the state and counters of the jobs it
pulled, runs, events, printer records) in batches, each batch one transaction at the centre that
moves the site's mark with it. The rules (who owns what, what is refused) are in docs/sync.md.

The room's modules, each one job:
- session.py: one sync from start to end, and its one-line failures;
- pull.py: the pull; push.py: the push, batch by batch;
- translate.py: a site's rows in the centre's terms (keys, printer names, event subjects);
- report.py: what a sync pulled, pushed and refused (the `--json` object);
- periodic.py: the daemon's own syncing every `[sync] interval_s`, in a thread of its own.

Persistence is the store's (farmctl/store/sync_site.py, sync_central.py); this room decides what
moves when, and depends on nothing above it.
"""
