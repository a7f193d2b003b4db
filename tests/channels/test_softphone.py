"""The browser softphone's token: Twilio's Voice SDK JWT for the agents of the group a Twilio
voice channel rings, signed with the channel's API key; nothing for anyone else."""

from __future__ import annotations

import jwt
import pytest

from invekto.channels import service as channels
from invekto.channels.adapters.twilio_voice import client_identity
from invekto.channels.schemas import ChannelCreate, ChannelUpdate
from invekto.channels.simulator.twilio_voice import ACCOUNT_SID, AUTH_TOKEN, NUMBER

KEY_SID = "SK" + "0123456789abcdef" * 2
KEY_SECRET = "tarayici-anahtar-sirri-0123456789ab"  # 32+ characters, as Twilio makes them


async def _line(company, *, group: str = "Resepsiyon", api_key: bool = True):
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await channels.create_channel(session, company.system, ChannelCreate(
            kind="voice_twilio", name=f"Telefon {group} {api_key}", external_id=NUMBER,
            settings={"group": group, **({"api_key_sid": KEY_SID} if api_key else {})},
            credentials={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN,
                         **({"api_key_secret": KEY_SECRET} if api_key else {})}))


async def _softphone(person) -> dict:
    response = await person.client.get("/api/v1/me/softphone")
    assert response.status_code == 200, response.text
    return response.json()


async def test_an_agent_of_the_group_gets_a_token_twilio_accepts(world):
    home = world.home
    line = await _line(home)
    given = await _softphone(home.bora)
    assert (given["channel_id"], given["identity"], given["expires_in"]) == (
        str(line.id), client_identity(home.bora.user_id), 3600)
    header = jwt.get_unverified_header(given["token"])
    assert (header["alg"], header["cty"]) == ("HS256", "twilio-fpa;v=1")
    claims = jwt.decode(given["token"], KEY_SECRET, algorithms=["HS256"])
    assert (claims["iss"], claims["sub"]) == (KEY_SID, ACCOUNT_SID)
    assert claims["jti"].startswith(f"{KEY_SID}-")
    assert claims["exp"] - claims["nbf"] == 3600
    assert claims["grants"] == {"identity": client_identity(home.bora.user_id),
                                "voice": {"incoming": {"allow": True}}}
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(given["token"], AUTH_TOKEN, algorithms=["HS256"])


async def test_no_token_outside_the_group_without_a_key_or_when_switched_off(world):
    home = world.home
    line = await _line(home)
    empty = {"channel_id": None, "identity": None, "token": None, "expires_in": None}
    assert await _softphone(home.deniz) == empty  # not in Resepsiyon: the line never rings him
    assert await _softphone(world.charlie.ayla) == empty  # another company
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await channels.update_channel(session, home.system, line.id,
                                      ChannelUpdate(is_active=False))
    assert await _softphone(home.bora) == empty
    await _line(home, api_key=False)
    assert await _softphone(home.bora) == empty  # calls ring browsers only with an API key


async def test_an_api_key_has_no_softphone(world):
    await _line(world.home)
    async with world.home.api_client() as api:
        response = await api.get("/api/v1/me/softphone")
    assert response.status_code == 403
