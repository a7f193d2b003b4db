"""The bare baseline: Starlette + one psycopg pool query returning the same rows as JSON, no auth,
no ORM, no tenant scope. What our endpoint is compared with."""

import os

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

pool = AsyncConnectionPool(os.environ["BENCH_DATABASE_URL"], min_size=4, max_size=10, open=False)
TENANT = os.environ["BENCH_TENANT_ID"]


async def conversations(_request):
    async with pool.connection() as connection, connection.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, contact_id, channel_id, status, assignee_id, group_id, tags, opened_at, "
            "first_response_at, closed_at, last_message_at, last_message_preview, unread_count "
            "FROM conversations WHERE tenant_id = %s AND status = 'open' "
            "ORDER BY last_message_at DESC, id DESC LIMIT 50", (TENANT,))
        rows = await cur.fetchall()
    return JSONResponse({"items": [{k: str(v) if v is not None else None for k, v in r.items()}
                                   for r in rows]})


async def thread(_request):
    """The latest page of one conversation's messages (the inbox thread's query, bare)."""
    async with pool.connection() as connection, connection.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, direction, body, status, created_at FROM messages "
            "WHERE tenant_id = %s AND contact_id = (SELECT contact_id FROM conversations "
            "WHERE id = %s) ORDER BY created_at DESC, id DESC LIMIT 40",
            (TENANT, os.environ.get("BENCH_CONVERSATION_ID")))
        rows = await cur.fetchall()
    return JSONResponse({"items": [{k: str(v) for k, v in r.items()} for r in rows]})


async def healthz(_request):
    return JSONResponse({"status": "ok"})


async def lifespan(_app):
    await pool.open()
    yield
    await pool.close()


app = Starlette(routes=[Route("/conversations", conversations), Route("/thread", thread),
                        Route("/healthz", healthz)],
                lifespan=lifespan)


# ---- the webhook baseline: verify the HMAC, one INSERT -------------------------------------------

async def webhook(request):
    import hashlib
    import hmac

    body = await request.body()
    expected = hmac.new(os.environ["BENCH_APP_SECRET"].encode(), body,
                        hashlib.sha256).hexdigest()
    sent = request.headers.get("x-hub-signature-256", "").removeprefix("sha256=")
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        return JSONResponse({"error": "signature"}, status_code=401)
    async with pool.connection() as connection:
        await connection.execute(
            "INSERT INTO bench_webhooks (key, payload) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (hashlib.sha256(body).hexdigest(), body.decode()))
    return JSONResponse({"ok": True})


app.router.routes.append(Route("/webhook", webhook, methods=["POST"]))
