"""The AI panel of an open conversation (in the contact pane): its summary on demand, the tags
the AI suggests, and its analysis (sentiment, purchase intent, quality score). Each part is
its own small route the panel loads, so one slow part never holds the others."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/inbox/c/{conversation_id}/ai", include_in_schema=False)

# ---- summary ----------------------------------------------------------------------------------

# ---- suggested tags ---------------------------------------------------------------------------

# ---- analysis ---------------------------------------------------------------------------------
