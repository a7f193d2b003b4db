"""Follow-up sequences (``/api/v1/follow-ups``), a channel's CSAT survey
(``/api/v1/channels/{channel_id}/csat``) and the survey answers for reports
(``/api/v1/csat/responses``)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import AwareDatetime

from invekto.follow_ups import service
from invekto.follow_ups.schemas import (
    CsatReportOut,
    CsatSurveyIn,
    CsatSurveyOut,
    SequenceIn,
    SequenceOut,
)
from invekto.http.deps import Scoped

router = APIRouter(tags=["follow-ups"])


@router.get("/follow-ups", response_model=list[SequenceOut])
async def list_sequences(ctx: Scoped):
    return await service.list_sequences(ctx.session, ctx.actor)


@router.post("/follow-ups", response_model=SequenceOut, status_code=status.HTTP_201_CREATED)
async def create_sequence(body: SequenceIn, ctx: Scoped):
    return await service.save_sequence(ctx.session, ctx.actor, body)


@router.get("/follow-ups/{sequence_id}", response_model=SequenceOut)
async def get_sequence(sequence_id: uuid.UUID, ctx: Scoped):
    return await service.get_sequence(ctx.session, ctx.actor, sequence_id)


@router.put("/follow-ups/{sequence_id}", response_model=SequenceOut)
async def update_sequence(sequence_id: uuid.UUID, body: SequenceIn, ctx: Scoped):
    return await service.save_sequence(ctx.session, ctx.actor, body, sequence_id)


@router.delete("/follow-ups/{sequence_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_sequence(sequence_id: uuid.UUID, ctx: Scoped) -> None:
    await service.delete_sequence(ctx.session, ctx.actor, sequence_id)


@router.get("/channels/{channel_id}/csat", response_model=CsatSurveyOut)
async def get_survey(channel_id: uuid.UUID, ctx: Scoped):
    found = await service.get_survey(ctx.session, ctx.actor, channel_id)
    return found or CsatSurveyOut(channel_id=channel_id)


@router.put("/channels/{channel_id}/csat", response_model=CsatSurveyOut)
async def set_survey(channel_id: uuid.UUID, body: CsatSurveyIn, ctx: Scoped):
    return await service.set_survey(ctx.session, ctx.actor, channel_id, body)


@router.get("/csat/responses", response_model=CsatReportOut)
async def csat_responses(ctx: Scoped, since: AwareDatetime, until: AwareDatetime,
                         limit: Annotated[int, Query(ge=1, le=1000)] = 1000):
    """The surveys asked in ``[since, until)`` (ISO 8601 with a time zone), with how many were
    answered and the average score. Supervisors'."""
    return await service.csat_report(ctx.session, ctx.actor, since=since, until=until,
                                     limit=limit)
