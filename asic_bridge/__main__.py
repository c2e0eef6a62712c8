"""``python -m asic_bridge`` is the same as the ``asic-bridge`` command."""

from asic_bridge.cli import main

raise SystemExit(main())
