"""The widget's WebSocket on a real `invekto serve`: only a page of the channel's websites with
a valid visitor token is told about that visitor's messages, and about no one else's."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.processes import invekto_processes
from tests.widget.visitor import SITE, Widget, agent_replies


@pytest.fixture(scope="module")
def server(database_url):
    with invekto_processes(database_url, servers=1) as (address,):
        yield address


async def _socket(server: str, channel_id, token: str | None, origin: str = SITE):
    websocket = await connect(f"ws://{server}/widget/ws/{channel_id}",
                              additional_headers={"Origin": origin})
    await websocket.send(json.dumps({"token": token}))
    return websocket


async def _next(websocket) -> dict:
    return json.loads(await asyncio.wait_for(websocket.recv(), 10))


async def test_a_visitor_hears_of_their_own_messages_only(world, client, server, channel_id):
    home = world.home
    elif_, ali = Widget(client, channel_id), Widget(client, channel_id)
    await elif_.start()
    await ali.start(name="Ali", phone="05442223344")
    elif_socket = await _socket(server, channel_id, elif_.token)
    ali_socket = await _socket(server, channel_id, ali.token)
    assert await _next(elif_socket) == {"type": "ready"}
    assert await _next(ali_socket) == {"type": "ready"}

    written = (await elif_.write("Merhaba")).json()
    assert await _next(elif_socket) == {"type": "changed", "message_id": written["id"]}
    conversation = next(c for c in (await home.bora.client.get(
        "/api/v1/conversations")).json()["items"] if c["last_message_preview"] == "Merhaba")
    reply = await agent_replies(home, conversation["id"], "Hoş geldiniz")
    # Stored, then sent: each is news for Elif's widget.
    heard = {(await _next(elif_socket))["message_id"], (await _next(elif_socket))["message_id"]}
    assert heard == {str(reply)}
    with pytest.raises(TimeoutError):  # nothing of Elif's reaches Ali
        await asyncio.wait_for(ali_socket.recv(), 0.5)
    await elif_socket.close()
    await ali_socket.close()


async def test_another_site_cannot_open_the_socket(client, server, channel_id):
    widget = Widget(client, channel_id)
    await widget.start()
    with pytest.raises(InvalidStatus) as refused:
        await _socket(server, channel_id, widget.token, origin="https://kotu-site.example")
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize("token", [None, "gAAAAAsahte"])
async def test_a_socket_without_a_valid_token_is_closed(server, channel_id, token):
    websocket = await _socket(server, channel_id, token)
    with pytest.raises(ConnectionClosed) as closed:
        await _next(websocket)
    assert closed.value.rcvd.code == 1008
