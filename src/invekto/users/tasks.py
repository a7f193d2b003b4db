"""Jobs about people: presence housekeeping."""

from __future__ import annotations

import procrastinate

from invekto import runtime
from invekto.users import service

blueprint = procrastinate.Blueprint()


@blueprint.periodic(cron="* * * * *")
@blueprint.task(name="sweep_presence", queue="default", queueing_lock="users.sweep_presence")
async def sweep_presence(timestamp: int) -> None:
    """Every minute: agents whose every tab has been closed (or silent) go offline."""
    async with runtime.current().db.system_session() as session:
        await service.sweep_presence(session)
