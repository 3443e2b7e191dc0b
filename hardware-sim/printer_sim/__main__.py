"""`python -m printer_sim` is the same as the `printer-sim` command."""

from printer_sim.cli import main

raise SystemExit(main())
