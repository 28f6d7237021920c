"""`python -m flotilla.conformance`: see `run.py`."""

from flotilla.conformance.run import main

raise SystemExit(main())
