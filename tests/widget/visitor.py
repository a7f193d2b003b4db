"""A company's web page calling the widget's API, for the widget's tests."""

from __future__ import annotations

import uuid

from invekto.inbox.tasks import deliver_message

SITE = "https://www.gulusdis.com.tr"
CONSENT = "Kişisel verileriniz KVKK kapsamında yalnızca size dönüş yapmak için işlenir."
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
       b"\x00\x00\x00\x00IEND\xaeB`\x82")


class Widget:
    """The widget's script on a page of ``origin``: calls the API as the browser would."""

    def __init__(self, client, channel_id: uuid.UUID, origin: str = SITE, language: str = "tr"):
        self.client, self.origin, self.language = client, origin, language
        self.api = f"/widget/api/{channel_id}"
        self.token: str | None = None

    def headers(self, **extra: str) -> dict[str, str]:
        headers = {"Origin": self.origin, "Accept-Language": self.language, **extra}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    async def get(self, path: str):
        return await self.client.get(self.api + path, headers=self.headers())

    async def post(self, path: str, json: dict | None = None, **kwargs):
        return await self.client.post(self.api + path, json=json, headers=self.headers(),
                                      **kwargs)

    async def start(self, **fields) -> dict:
        response = await self.post("/visitors", {
            "name": "Elif Yıldız", "phone": "0532 111 22 33", "consent": True,
            "language": "tr", "page": f"{SITE}/iletisim", **fields})
        assert response.status_code == 201, response.text
        self.token = response.json()["token"]
        return response.json()

    async def write(self, body: str, client_id: uuid.UUID | None = None):
        return await self.post("/messages", {"client_id": str(client_id or uuid.uuid4()),
                                             "body": body})

    async def messages(self) -> list[dict]:
        response = await self.get("/messages")
        assert response.status_code == 200, response.text
        return response.json()


async def agent_replies(home, conversation_id: uuid.UUID, text: str, *, deliver: bool = True
                         ) -> uuid.UUID:
    """Bora answers in the inbox; the outbound job hands it to the web chat."""
    response = await home.bora.client.post(
        f"/api/v1/conversations/{conversation_id}/messages", json={"body": text})
    assert response.status_code == 201, response.text
    message_id = uuid.UUID(response.json()["id"])
    if deliver:
        await deliver_message(tenant_id=str(home.tenant_id), message_id=str(message_id))
    return message_id
