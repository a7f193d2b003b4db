"""A Telegram Bot API simulator: the methods Invekto uses, for one bot, kept in memory.

Provider side (what ``TelegramAdapter`` calls), at ``/bot{token}/{method}`` (GET or POST; JSON,
form or multipart bodies; a wrong token is Telegram's 401):

* ``getMe``; ``setWebhook`` (keeps ``url``, ``secret_token`` and ``allowed_updates``),
  ``getWebhookInfo``, ``deleteWebhook``;
* ``sendMessage``, ``sendPhoto``, ``sendDocument``, ``sendAudio``, ``sendVoice``, ``sendVideo``:
  checks the shape minimally (chat id, text 1–4,096, caption ≤ 1,024, the file given as an id,
  a URL or an upload, ``callback_data`` ≤ 64 bytes), records the request in ``state.sent`` (an
  uploaded file is held, so it can be downloaded) and answers a Message like Telegram, unless
  told to fail (``fail_next``);
* ``getFile`` of a file it holds, and its download at ``/file/bot{token}/{file_path}``;
* ``answerCallbackQuery``, recorded in ``state.answered``.

Customer side (what Telegram would post to our webhook): ``customer_message``, ``callback`` and,
for anything else, ``update(**content)`` build Update bodies (``update_id`` increasing) with the
``X-Telegram-Bot-Api-Secret-Token`` header; ``deliver(body, headers)`` posts one to
``webhook_url``.

In-process: ``httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator))``. As a server:
``python -m invekto.channels.simulator.telegram --port 8027``.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from invekto.channels.simulator.whatsapp import Failure, RecordedRequest, StoredMedia

BOT_ID = 7000000001
BOT_TOKEN = f"{BOT_ID}:AAHsimulatorTokenForTestsOnly-0123456"
BOT_USERNAME = "ornek_destek_bot"
BOT_NAME = "Ornek Destek"
CUSTOMER_ID = 5123456789
CUSTOMER = {"id": CUSTOMER_ID, "is_bot": False, "first_name": "Mehmet", "last_name": "Kaya",
            "username": "mehmetk", "language_code": "tr"}
SEND_METHODS = {"sendMessage": None, "sendPhoto": "photo", "sendDocument": "document",
                "sendAudio": "audio", "sendVoice": "voice", "sendVideo": "video"}
_FOLDERS = {"photo": "photos", "document": "documents", "audio": "music", "voice": "voice",
            "video": "videos"}


@dataclass
class SentRequest:
    """A send the simulator accepted."""

    method: str
    params: dict[str, Any]  # the JSON body, or the form's fields (JSON-valued ones decoded)
    file: StoredMedia | None  # an uploaded file
    file_id: str | None  # the id the upload is held under
    message_id: int
    content_type: str  # the request's (application/json, multipart/form-data...)


@dataclass
class SimulatorState:
    sent: list[SentRequest] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    files: dict[str, tuple[str, StoredMedia]] = field(default_factory=dict)  # id: (path, file)
    answered: list[dict[str, Any]] = field(default_factory=list)
    inbound: list[dict[str, Any]] = field(default_factory=list)  # Updates built
    failures: deque[Failure] = field(default_factory=deque)


def telegram_error(error_code: int, description: str, retry_after: int | None = None
                   ) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error_code": error_code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return body


_DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
}


class TelegramSimulator:
    """An ASGI app speaking the Bot API, with helpers for the customer's side."""

    def __init__(self, token: str = BOT_TOKEN, webhook_url: str | None = None, *,
                 secret_token: str | None = None,
                 webhook_transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else BOT_ID
        self.webhook_url = webhook_url
        self.secret_token = secret_token
        self.allowed_updates: list[str] | None = None
        self.webhook_transport = webhook_transport
        self.state = SimulatorState()
        self._update_id = 904512000
        self._message_id = 1000
        self._app = Starlette(routes=[
            Route("/file/bot{token}/{file_path:path}", self._download, methods=["GET"]),
            Route("/bot{token}/{method}", self._method, methods=["GET", "POST"]),
        ])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    # ---- controls ------------------------------------------------------------------------------

    def fail_next(self, count: int = 1, *, error_code: int = 403,
                  description: str | None = None, retry_after: int | None = None,
                  status: int | None = None, body: dict[str, Any] | None = None) -> None:
        """The next ``count`` sends answer Telegram's error ``error_code`` (by default the bot
        blocked by the user), or ``body`` with HTTP ``status``."""
        if description is None:
            description = _DESCRIPTIONS.get(error_code, "Bad Request").format(
                retry_after=retry_after)
        for _ in range(count):
            self.state.failures.append(Failure(
                status or error_code,
                body if body is not None else telegram_error(error_code, description,
                                                             retry_after)))

    def add_file(self, data: bytes, mime_type: str, *, kind: str = "document",
                 filename: str | None = None, file_id: str | None = None) -> str:
        """Hold a file; returns its file_id."""
        file_id = file_id or f"Sim{kind[:2].upper()}" + secrets.token_urlsafe(24)
        suffix = ("." + filename.rsplit(".", 1)[-1]) if filename and "." in filename else {
            "photo": ".jpg", "voice": ".oga", "video": ".mp4", "audio": ".mp3"}.get(kind, "")
        path = f"{_FOLDERS.get(kind, 'documents')}/file_{len(self.state.files)}{suffix}"
        self.state.files[file_id] = (path, StoredMedia(data, mime_type, filename))
        return file_id

    def reset(self) -> None:
        self.state = SimulatorState()

    # ---- the customer's side: webhooks ---------------------------------------------------------

    def update(self, **content: Any) -> tuple[bytes, dict[str, str]]:
        """An Update carrying ``content`` (``message=...``, ``callback_query=...``) as given."""
        self._update_id += 1
        update = {"update_id": self._update_id, **content}
        self.state.inbound.append(update)
        body = json.dumps(update, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        if self.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.secret_token
        return body, headers

    def customer_message(self, text: str | None = None, *, caption: str | None = None,
                         photo: bytes | None = None, voice: bytes | None = None,
                         document: bytes | None = None, filename: str = "belge.pdf",
                         mime_type: str = "application/pdf",
                         location: tuple[float, float] | None = None,
                         contact: dict[str, Any] | None = None, sender: dict[str, Any] |
                         None = None, message_id: int | None = None, date: int | None = None,
                         reply_to: int | None = None, chat_type: str = "private",
                         edited: bool = False) -> tuple[bytes, dict[str, str]]:
        """An Update with one customer message: text, or a ``photo`` (in two sizes, the larger
        last), a ``voice`` note (OGG), a ``document`` (``filename``, ``mime_type``), a
        ``location`` (latitude, longitude) or a ``contact``."""
        user = dict(sender or CUSTOMER)
        chat = {"id": user["id"], "type": chat_type,
                **{k: user[k] for k in ("first_name", "last_name", "username") if k in user}}
        message: dict[str, Any] = {"message_id": message_id or self._next_message_id(),
                                   "from": user, "chat": chat, "date": date or int(time.time())}
        if text is not None:
            message["text"] = text
        if photo is not None:
            small = self.add_file(photo, "image/jpeg", kind="photo")
            large = self.add_file(photo, "image/jpeg", kind="photo")
            message["photo"] = [
                {"file_id": small, "file_unique_id": "s" + small[-8:], "width": 90,
                 "height": 67, "file_size": len(photo)},
                {"file_id": large, "file_unique_id": "l" + large[-8:], "width": 1280,
                 "height": 960, "file_size": len(photo)}]
        if voice is not None:
            file_id = self.add_file(voice, "audio/ogg", kind="voice")
            message["voice"] = {"file_id": file_id, "file_unique_id": "v" + file_id[-8:],
                                "duration": 3, "mime_type": "audio/ogg",
                                "file_size": len(voice)}
        if document is not None:
            file_id = self.add_file(document, mime_type, kind="document", filename=filename)
            message["document"] = {"file_name": filename, "mime_type": mime_type,
                                   "file_id": file_id, "file_unique_id": "d" + file_id[-8:],
                                   "file_size": len(document)}
        if caption is not None:
            message["caption"] = caption
        if location is not None:
            message["location"] = {"latitude": location[0], "longitude": location[1]}
        if contact is not None:
            message["contact"] = dict(contact)
        if reply_to is not None:
            message["reply_to_message"] = {"message_id": reply_to, "chat": chat,
                                           "date": message["date"]}
        if edited:
            message["edit_date"] = message["date"] + 1
            return self.update(edited_message=message)
        return self.update(message=message)

    def callback(self, data: str, message_id: int, *, sender: dict[str, Any] | None = None,
                 query_id: str | None = None) -> tuple[bytes, dict[str, str]]:
        """An Update: the customer tapped the inline button with ``data`` under the bot's
        message ``message_id`` (with its keyboard as sent, when it was sent here)."""
        user = dict(sender or CUSTOMER)
        chat = {"id": user["id"], "type": "private",
                **{k: user[k] for k in ("first_name", "last_name", "username") if k in user}}
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": {"id": self.bot_id, "is_bot": True, "first_name": BOT_NAME,
                     "username": BOT_USERNAME},
            "chat": chat, "date": int(time.time())}
        sent = next((s for s in self.state.sent if s.message_id == message_id), None)
        if sent is not None:
            if sent.params.get("text"):
                message["text"] = sent.params["text"]
            if sent.params.get("reply_markup"):
                message["reply_markup"] = sent.params["reply_markup"]
        return self.update(callback_query={
            "id": query_id or str(4382019374650000000 + secrets.randbelow(10**6)),
            "from": user, "message": message, "chat_instance": "-7263548190001122334",
            "data": data})

    async def deliver(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        """Post an Update built above to ``webhook_url``, as Telegram would."""
        if not self.webhook_url:
            raise RuntimeError("the simulator has no webhook_url")
        async with httpx.AsyncClient(transport=self.webhook_transport, timeout=10) as http:
            return await http.post(self.webhook_url, content=body, headers=headers)

    def _next_message_id(self) -> int:
        self._message_id += 1
        return self._message_id

    # ---- the provider's side: HTTP API ---------------------------------------------------------

    def _record(self, request: Request) -> None:
        path = request.url.path.replace(self.token, "<token>")
        self.state.requests.append(RecordedRequest(
            request.method, path, request.url.query, request.headers.get("host", ""),
            {k.lower(): v for k, v in request.headers.items()}))

    async def _params(self, request: Request) -> tuple[dict[str, Any], StoredMedia | None,
                                                       str | None]:
        """The method's parameters (query, JSON or form), the uploaded file and its field."""
        params: dict[str, Any] = dict(request.query_params)
        content_type = request.headers.get("content-type", "")
        upload: StoredMedia | None = None
        upload_field: str | None = None
        if content_type.startswith("application/json"):
            raw = await request.body()
            data = json.loads(raw) if raw else {}
            if not isinstance(data, dict):
                raise ValueError("the body is not a JSON object")
            params.update(data)
        elif content_type.startswith(("multipart/form-data",
                                      "application/x-www-form-urlencoded")):
            async with request.form() as form:  # closes the spooled upload afterwards
                for key, value in form.multi_items():
                    if isinstance(value, UploadFile):
                        upload = StoredMedia(await value.read(), value.content_type or "",
                                             value.filename)
                        upload_field = key
                    elif key in ("reply_markup", "reply_parameters", "allowed_updates"):
                        params[key] = json.loads(value)
                    else:
                        params[key] = value
        return params, upload, upload_field

    async def _method(self, request: Request) -> Response:
        self._record(request)
        if not secrets.compare_digest(request.path_params["token"], self.token):
            return JSONResponse(telegram_error(401, "Unauthorized"), status_code=401)
        method = request.path_params["method"]
        try:
            params, upload, upload_field = await self._params(request)
        except ValueError:
            return JSONResponse(telegram_error(400, "Bad Request: can't parse JSON"),
                                status_code=400)
        if method in SEND_METHODS:
            return await self._send(method, params, upload, upload_field,
                                    request.headers.get("content-type", ""))
        if method == "getMe":
            return _ok({"id": self.bot_id, "is_bot": True, "first_name": BOT_NAME,
                        "username": BOT_USERNAME, "can_join_groups": True,
                        "can_read_all_group_messages": False, "supports_inline_queries": False})
        if method == "setWebhook":
            secret = params.get("secret_token")
            if not params.get("url") or (secret is not None and not str(secret)):
                return JSONResponse(telegram_error(400, "Bad Request: bad webhook"),
                                    status_code=400)
            self.webhook_url = str(params["url"])
            self.secret_token = str(secret) if secret else None
            allowed = params.get("allowed_updates")
            self.allowed_updates = list(allowed) if isinstance(allowed, list) else None
            return JSONResponse({"ok": True, "result": True, "description": "Webhook was set"})
        if method == "deleteWebhook":
            self.webhook_url = None
            return JSONResponse({"ok": True, "result": True,
                                 "description": "Webhook was deleted"})
        if method == "getWebhookInfo":
            return _ok({"url": self.webhook_url or "", "has_custom_certificate": False,
                        "pending_update_count": 0, "max_connections": 40,
                        **({"allowed_updates": self.allowed_updates}
                           if self.allowed_updates else {})})
        if method == "getFile":
            held = self.state.files.get(str(params.get("file_id") or ""))
            if held is None:
                return JSONResponse(telegram_error(400, "Bad Request: invalid file_id"),
                                    status_code=400)
            path, media = held
            return _ok({"file_id": params["file_id"], "file_unique_id": "u" + path[-10:],
                        "file_size": len(media.data), "file_path": path})
        if method == "answerCallbackQuery":
            if not params.get("callback_query_id"):
                return JSONResponse(telegram_error(400, "Bad Request: query is too old and "
                                                   "response timeout expired or query ID is "
                                                   "invalid"), status_code=400)
            self.state.answered.append(params)
            return _ok(True)
        return JSONResponse(telegram_error(404, "Not Found"), status_code=404)

    async def _send(self, method: str, params: dict[str, Any], upload: StoredMedia | None,
                    upload_field: str | None, content_type: str) -> Response:
        if self.state.failures:
            failure = self.state.failures.popleft()
            return JSONResponse(failure.body, status_code=failure.status)
        problem = _invalid(method, params, upload, upload_field)
        if problem:
            return JSONResponse(telegram_error(400, f"Bad Request: {problem}"), status_code=400)
        file, file_id = None, None
        field_name = SEND_METHODS[method]
        if upload is not None:
            file = upload
            file_id = self.add_file(file.data, file.mime_type, kind=field_name or "document",
                                    filename=upload.filename)
        message_id = self._next_message_id()
        self.state.sent.append(SentRequest(method, params, file, file_id, message_id,
                                           content_type.split(";")[0]))
        chat_id = params["chat_id"]
        result: dict[str, Any] = {
            "message_id": message_id,
            "from": {"id": self.bot_id, "is_bot": True, "first_name": BOT_NAME,
                     "username": BOT_USERNAME},
            "chat": {"id": int(chat_id) if str(chat_id).lstrip("-").isdigit() else chat_id,
                     "type": "private"},
            "date": int(time.time())}
        if params.get("text"):
            result["text"] = params["text"]
        if params.get("caption"):
            result["caption"] = params["caption"]
        return _ok(result)

    async def _download(self, request: Request) -> Response:
        self._record(request)
        if not secrets.compare_digest(request.path_params["token"], self.token):
            return JSONResponse(telegram_error(401, "Unauthorized"), status_code=401)
        path = request.path_params["file_path"]
        held = next((media for p, media in self.state.files.values() if p == path), None)
        if held is None:
            return JSONResponse(telegram_error(404, "Not Found"), status_code=404)
        return Response(held.data, media_type=held.mime_type)


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


def _invalid(method: str, params: dict[str, Any], upload: StoredMedia | None,
             upload_field: str | None) -> str | None:
    """What Telegram would refuse in a send, minimally checked."""
    if params.get("chat_id") in (None, ""):
        return "chat_id is empty"
    field_name = SEND_METHODS[method]
    if field_name is None:
        text = str(params.get("text") or "")
        if not text:
            return "message text is empty"
        if len(text) > 4096:
            return "message is too long"
    else:
        given = params.get(field_name) not in (None, "")
        if upload is not None and upload_field != field_name:
            return f"there is no {field_name} in the request"
        if not given and upload is None:
            return f"there is no {field_name} in the request"
        if len(str(params.get("caption") or "")) > 1024:
            return "message caption is too long"
    markup = params.get("reply_markup")
    if markup is not None:
        rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
        if not isinstance(rows, list):
            return "can't parse reply keyboard markup JSON object"
        for row in rows:
            for button in row:
                data = button.get("callback_data")
                if not button.get("text") or (data is not None and not 1 <= len(
                        str(data).encode()) <= 64):
                    return "BUTTON_DATA_INVALID"
    return None


def create_simulator(token: str = BOT_TOKEN, webhook_url: str | None = None,
                     **options: Any) -> TelegramSimulator:
    """A new simulator; ``options`` are ``TelegramSimulator``'s keyword arguments."""
    return TelegramSimulator(token, webhook_url, **options)


def main() -> None:  # pragma: no cover - manual use
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description="Telegram Bot API simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8027)
    parser.add_argument("--token", default=BOT_TOKEN)
    parser.add_argument("--webhook-url", default=None)
    args = parser.parse_args()
    uvicorn.run(create_simulator(args.token, args.webhook_url), host=args.host, port=args.port)


if __name__ == "__main__":  # pragma: no cover
    main()
