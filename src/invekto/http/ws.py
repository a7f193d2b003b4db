"""``/ws``: one WebSocket per browser tab, carrying the live events its user may see."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit

import structlog
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from invekto import runtime
from invekto.auth import service as auth
from invekto.core.errors import AppError
from invekto.core.realtime import Hub, Subscription
from invekto.http.deps import SESSION_COOKIE
from invekto.users import service as users

log = structlog.get_logger(__name__)
router = APIRouter()

_POLICY_VIOLATION = 1008
_TRY_AGAIN_LATER = 1013


def _same_origin(websocket: WebSocket) -> bool:
    """Browsers send cookies with cross-site WebSocket handshakes: check Origin ourselves."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser (API clients, tests); the session cookie still decides
    return urlsplit(origin).netloc == websocket.headers.get("host")


@router.websocket("/ws")
async def events(websocket: WebSocket) -> None:
    hub: Hub = websocket.app.state.hub
    cookie = websocket.cookies.get(SESSION_COOKIE)
    if not cookie or not _same_origin(websocket):
        await websocket.close(code=_POLICY_VIOLATION)
        return
    try:
        tenant_id, secret = auth.split_credential(cookie)
        async with runtime.current().db.tenant_session(tenant_id) as session:
            actor = await auth.authenticate_session(session, tenant_id, secret)
            # An open tab is presence: the user shows online (the sweeper turns them offline
            # once every tab has been quiet for a while).
            await users.touch_presence(session, tenant_id, actor.user_id)
    except AppError:
        await websocket.close(code=_POLICY_VIOLATION)
        return

    await websocket.accept()
    subscription = hub.subscribe(actor)
    await websocket.send_json({"type": "hello", "data": {"user_id": str(actor.user_id)}})

    async def pump_events() -> None:
        while True:
            event = await subscription.queue.get()
            if subscription.overflowed:
                await websocket.send_json({"type": "resync", "data": {}})
                await websocket.close(code=_TRY_AGAIN_LATER)
                return
            await websocket.send_json(event.client_message())

    async def read_client() -> None:
        # Clients only ping; reading also notices a closed socket promptly. A ping refreshes
        # the user's presence, and checks the session again: one ended elsewhere (logged out,
        # ended from the account page, the user deactivated, a time limit) stops the events.
        while True:
            message = await websocket.receive_json()
            if isinstance(message, dict) and message.get("type") == "ping":
                try:
                    async with runtime.current().db.tenant_session(tenant_id) as session:
                        await auth.authenticate_session(session, tenant_id, secret, touch=False)
                        await users.touch_presence(session, actor.tenant_id, actor.user_id)
                except AppError:
                    await websocket.close(code=_POLICY_VIOLATION)
                    return
                await websocket.send_json({"type": "pong", "data": {}})

    await serve_until_closed(websocket, hub, subscription, pump_events(), read_client())


async def serve_until_closed(websocket: WebSocket, hub: Hub, subscription: Subscription,
                             *loops: Coroutine[Any, Any, None]) -> None:
    """Run a socket's loops (events out, the client's pings in) until one ends (the client left,
    or the socket must close), then stop the others, drop the subscription and close."""
    tasks = [asyncio.create_task(loop) for loop in loops]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except WebSocketDisconnect:
        pass
    finally:
        hub.unsubscribe(subscription)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError,
                                     ValueError):
                await task
        if websocket.application_state == WebSocketState.CONNECTED:
            # The client may be gone already (a closed tab): nothing to tell it then.
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await websocket.close()
