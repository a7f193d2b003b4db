"""Jobs of the automation domain."""

from __future__ import annotations

import procrastinate

blueprint = procrastinate.Blueprint()
