"""Jobs of the flows domain."""

from __future__ import annotations

import procrastinate

blueprint = procrastinate.Blueprint()
