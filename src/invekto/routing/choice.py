"""Which agent gets a conversation: the four algorithms, as pure functions of the team's state.

The service gathers each candidate's state in one query and locks the channel's routing row
while it decides, so these functions see a consistent team and never run twice at once for one
channel. Kept free of the database so that every choice (ties, skips) is tested directly.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Candidate:
    """An agent of the channel's groups, as routing sees them now."""

    user_id: uuid.UUID
    presence: str  # online | away | offline
    open_conversations: int
    capacity: int | None = None  # max open conversations; None: no limit
    assigned_today: int = 0  # conversations routing or people gave them today (tenant's day)
    last_sent_at: datetime | None = None  # their latest message to a customer
    on_shift: bool = True

    @property
    def available(self) -> bool:
        """Takes new conversations: online, on shift and below capacity."""
        return (self.presence == "online" and self.on_shift
                and (self.capacity is None or self.open_conversations < self.capacity))


def choose(algorithm: str, candidates: Sequence[Candidate], *,
           last_assigned: uuid.UUID | None = None, rng: random.Random | None = None
           ) -> uuid.UUID | None:
    """The agent ``algorithm`` picks among the available candidates; None when nobody is
    available. Ties are broken by user id, so the same team always gives the same answer
    (except ``random``, which draws with ``rng``)."""
    available = sorted((c for c in candidates if c.available), key=lambda c: c.user_id)
    if not available:
        return None
    if algorithm == "random":
        return (rng or random.SystemRandom()).choice(available).user_id
    if algorithm == "round_robin":
        return next_in_rotation([c.user_id for c in available], last_assigned)
    if algorithm == "least_today":
        return min(available, key=lambda c: (c.assigned_today, c.user_id)).user_id
    if algorithm == "longest_waiting":
        # Who has waited longest since sending a message; one who never sent any first.
        return min(available, key=lambda c: (c.last_sent_at is not None,
                                             c.last_sent_at or datetime.min,
                                             c.user_id)).user_id
    raise ValueError(f"unknown routing algorithm {algorithm!r}")


def next_in_rotation(ordered: Sequence[uuid.UUID], last: uuid.UUID | None) -> uuid.UUID:
    """The agent after ``last`` in the rotation (by user id, wrapping round). Agents skipped
    for now keep their place: the turn goes to the next one after ``last`` who is available, so
    over many assignments everyone available gets within one of the same number."""
    if last is None:
        return ordered[0]
    return next((user_id for user_id in ordered if user_id > last), ordered[0])
