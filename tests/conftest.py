"""Suite-wide settings.

Demos started without `--port` (a game-day on `system: demo` starts its home's demo itself) take
free ports here: tests run in parallel, and two demos on the default 8710-8733 would meet — one
demo's disabled proxy port is exactly what another's start would find free.
"""

from __future__ import annotations

import os

os.environ["DRILLKIT_DEMO_PORT"] = "0"
