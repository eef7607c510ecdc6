"""Entry point of `python -m tools.simulator` (see `cli.py`)."""

from tools.simulator.cli import main

raise SystemExit(main())
