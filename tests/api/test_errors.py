"""The one JSON error shape, ``{"error": {"code", "message", "field"?}}``, for every kind of bad
request, and no 500 for any garbage a client can send to a write route."""

from __future__ import annotations

import base64
import json
import uuid

import httpx
from fastapi.routing import iter_route_contexts
from sqlalchemy import func, select
from structlog.testing import capture_logs

from invekto.contacts.models import Contact

_ERROR_KEYS = {"code", "message", "field", "details"}


def assert_error(response: httpx.Response, status: int, code: str, *,
                 field: str | None = None) -> dict:
    """The response is the documented JSON error; returns its ``error`` object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) <= _ERROR_KEYS, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"].strip(), error
    if field is not None:
        assert error.get("field") == field, error
    return error


async def contact_count(company) -> int:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await session.scalar(select(func.count()).select_from(Contact))


# ---- the shape, case by case ---------------------------------------------------------------------

async def test_invalid_json_body_is_422_validation_failed(world):
    admin = world.home.ayla.client
    before = await contact_count(world.home)
    response = await admin.post("/api/v1/contacts", content=b'{"name": "Ay',
                                headers={"content-type": "application/json"})
    error = assert_error(response, 422, "validation_failed")
    assert "json" in error["message"].lower()
    assert await contact_count(world.home) == before


async def test_body_that_is_json_but_not_an_object_is_422(world):
    response = await world.home.ayla.client.post("/api/v1/contacts", json=["name", "Ayşe"])
    assert_error(response, 422, "validation_failed")


async def test_missing_required_field_names_the_field(world):
    admin = world.home.ayla.client
    response = await admin.post("/api/v1/custom-fields", json={"key": "dogum_tarihi",
                                                               "field_type": "date"})
    error = assert_error(response, 422, "validation_failed", field="label")
    assert error["details"] == [{"field": "label", "message": "Field required"}]
    assert (await admin.get("/api/v1/custom-fields")).json() == []


async def test_missing_several_fields_reports_each_in_details(world):
    response = await world.home.ayla.client.post("/api/v1/users", json={})
    error = assert_error(response, 422, "validation_failed")
    assert {d["field"] for d in error["details"]} == {"username", "display_name"}
    assert error["field"] in {"username", "display_name"}


async def test_wrong_type_names_the_field(world):
    response = await world.home.ayla.client.post("/api/v1/custom-fields", json={
        "key": "puan", "label": "Puan", "field_type": "number", "position": "birinci"})
    assert_error(response, 422, "validation_failed", field="position")


async def test_bad_phone_number_is_422_on_phone_and_nothing_is_stored(world):
    admin = world.home.ayla.client
    before = await contact_count(world.home)
    for phone in ("12", "telefonum yok", "+90 532", "0000000000000"):
        response = await admin.post("/api/v1/contacts", json={"name": "Ayşe", "phone": phone})
        error = assert_error(response, 422, "validation_failed", field="phone")
        assert phone in error["message"]
    assert await contact_count(world.home) == before
    # The same number written properly is accepted and normalised, so the rule is the number.
    good = await admin.post("/api/v1/contacts", json={"name": "Ayşe", "phone": "0532 123 45 67"})
    assert good.status_code == 201, good.text
    assert good.json()["phone"] == "+905321234567"
    assert await contact_count(world.home) == before + 1


async def test_non_uuid_path_id_is_422_on_that_parameter(world):
    admin = world.home.ayla.client
    for path, field in (("/api/v1/contacts/123", "contact_id"),
                        ("/api/v1/users/ayla", "user_id"),
                        ("/api/v1/conversations/not-a-uuid/messages", "conversation_id"),
                        ("/api/v1/kb/articles/implant", "article_id")):
        assert_error(await admin.get(path), 422, "validation_failed", field=field)
    response = await admin.patch("/api/v1/tags/şükrü", json={"color": "#ffffff"})
    assert_error(response, 422, "validation_failed", field="tag_id")


async def test_unknown_uuid_is_404_not_found(world):
    response = await world.home.ayla.client.get(f"/api/v1/contacts/{uuid.uuid4()}")
    assert_error(response, 404, "not_found")


async def test_bad_pagination_cursor_is_422_on_cursor(world):
    admin = world.home.ayla.client
    message = await world.home.inbound("Merhaba")
    not_a_pair = base64.urlsafe_b64encode(json.dumps({"a": 1}).encode()).decode()
    wrong_types = base64.urlsafe_b64encode(json.dumps([1, 2]).encode()).decode()
    bad_date = base64.urlsafe_b64encode(json.dumps(["dün", str(uuid.uuid4())]).encode()).decode()
    for cursor in ("!!!", "bm90IGpzb24", not_a_pair, wrong_types, bad_date, "şğü"):
        for path in ("/api/v1/contacts", "/api/v1/conversations",
                     f"/api/v1/conversations/{message.conversation_id}/messages",
                     f"/api/v1/contacts/{message.contact_id}/messages"):
            response = await admin.get(path, params={"cursor": cursor})
            assert_error(response, 422, "validation_failed", field="cursor")


async def test_limit_out_of_range_is_422_on_limit(world):
    admin = world.home.ayla.client
    for limit in ("0", "-1", "201", "100000", "elli", "1.5"):
        for path in ("/api/v1/contacts", "/api/v1/conversations"):
            response = await admin.get(path, params={"limit": limit})
            assert_error(response, 422, "validation_failed", field="limit")
    assert (await admin.get("/api/v1/contacts", params={"limit": "200"})).status_code == 200
    assert (await admin.get("/api/v1/contacts", params={"limit": "1"})).status_code == 200


async def test_unknown_route_is_json_404(world, client):
    for http in (client, world.home.ayla.client):
        for path in ("/api/v1/nothing-here", "/api/v1/contacts/x/y/z", "/nope"):
            assert_error(await http.get(path), 404, "not_found")
        assert_error(await http.post("/api/v1/nothing-here", json={}), 404, "not_found")


async def test_wrong_method_is_json_405(world):
    admin = world.home.ayla.client
    response = await admin.delete("/api/v1/contacts")
    assert_error(response, 405, "method_not_allowed")
    # Starlette names only the first matching route's methods (GET), not every one, so this is
    # checked loosely: the header is there and does not offer the refused method.
    allowed = set(response.headers["allow"].replace(" ", "").split(","))
    assert allowed and allowed <= {"GET", "HEAD", "POST"}, allowed
    assert_error(await admin.put(f"/api/v1/contacts/{uuid.uuid4()}", json={}), 405,
                 "method_not_allowed")
    assert_error(await admin.get("/api/v1/auth/login"), 405, "method_not_allowed")


async def test_unauthenticated_request_gets_the_same_shape(client):
    assert_error(await client.get("/api/v1/contacts"), 401, "unauthenticated")


# ---- values the database cannot hold (found by the garbage loop below) ---------------------------

async def test_explicit_null_for_a_column_that_cannot_be_null_is_422_on_that_field(world):
    home = world.home
    admin = home.ayla.client
    deniz = f"/api/v1/users/{home.deniz.user_id}"
    field = (await admin.post("/api/v1/custom-fields", json={
        "key": "sehir", "label": "Şehir", "field_type": "text"})).json()
    cases = [(deniz, name) for name in ("display_name", "role", "language", "is_active")] + [
        (f"/api/v1/groups/{home.group_id}", "name"),
        (f"/api/v1/groups/{home.group_id}", "description"),
        (f"/api/v1/channels/{home.channel_id}", "name"),
        (f"/api/v1/channels/{home.channel_id}", "settings"),
        (f"/api/v1/channels/{home.channel_id}", "is_active"),
        (f"/api/v1/custom-fields/{field['id']}", "label"),
        (f"/api/v1/custom-fields/{field['id']}", "options"),
        (f"/api/v1/custom-fields/{field['id']}", "position"),
    ]
    for path, name in cases:
        response = await admin.patch(path, json={name: None})
        assert_error(response, 422, "validation_failed", field=name)
    # Nothing changed ...
    user = (await admin.get(deniz)).json()
    assert (user["display_name"], user["role"], user["language"], user["is_active"]) == (
        "Deniz", "agent", "tr", True)
    group = (await admin.get(f"/api/v1/groups/{home.group_id}")).json()
    assert (group["name"], group["description"]) == ("Resepsiyon", "")
    channel = (await admin.get(f"/api/v1/channels/{home.channel_id}")).json()
    assert (channel["name"], channel["is_active"]) == ("Web", True)
    assert (await admin.get("/api/v1/custom-fields")).json() == [field]
    # ... and null still clears what may be empty.
    await admin.patch(deniz, json={"email": "deniz@example.com"})
    cleared = await admin.patch(deniz, json={"email": None})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["email"] is None


async def test_nul_character_is_422_and_nothing_is_stored(world):
    admin = world.home.ayla.client
    before = await contact_count(world.home)
    for body in ({"name": "Ay\x00şe"}, {"name": "Ayşe", "tags": ["a\x00"]}):
        response = await admin.post("/api/v1/contacts", json=body)
        assert_error(response, 422, "validation_failed")
    assert await contact_count(world.home) == before
    response = await admin.patch(f"/api/v1/users/{world.home.deniz.user_id}",
                                 json={"display_name": "De\x00niz"})
    assert_error(response, 422, "validation_failed")
    assert (await admin.get(f"/api/v1/users/{world.home.deniz.user_id}")).json()[
        "display_name"] == "Deniz"


async def test_nul_character_in_login_is_an_ordinary_failed_login(world, client):
    for company, username in ((world.home.slug, "ay\x00la"), ("co\x00", "ayla")):
        response = await client.post("/api/v1/auth/login", json={
            "company": company, "username": username, "password": "whatever-password"})
        assert_error(response, 401, "login_failed")


async def test_custom_field_position_beyond_the_column_is_422_on_position(world):
    admin = world.home.ayla.client
    response = await admin.post("/api/v1/custom-fields", json={
        "key": "sira", "label": "Sıra", "field_type": "number", "position": 2**31})
    assert_error(response, 422, "validation_failed", field="position")
    assert (await admin.get("/api/v1/custom-fields")).json() == []
    created = await admin.post("/api/v1/custom-fields", json={
        "key": "sira", "label": "Sıra", "field_type": "number", "position": 2**31 - 1})
    assert created.status_code == 201, created.text
    response = await admin.patch(f"/api/v1/custom-fields/{created.json()['id']}",
                                 json={"position": -(2**63)})
    assert_error(response, 422, "validation_failed", field="position")


# ---- garbage to every write route ----------------------------------------------------------------

HUGE = "ş" * 100_000
TURKISH = "İıŞşĞğÜüÖöÇç — Şükrü'nün “randevu” notu: 5₺ ödendi 🙂"


def _nested(depth: int) -> object:
    value: object = "dip"
    for level in range(depth):
        value = {"k": [value, None, level]} if level % 2 else [value, {"x": None}]
    return value


FIELD_JUNK: list[object] = [
    # wrong types and numbers no column holds
    None, True, False, 0, -1, 2**31, 2**63, -(2**70), 1.5, 1e308, float("inf"), float("nan"),
    # strings: blank, huge, Turkish, NUL (PostgreSQL refuses it), lone surrogates, injections
    "", " ", "\t\n", "x" * 5000, HUGE, TURKISH, "\x00", "a\x00b", "\ud800", "x\udfffy",
    "<script>alert(1)</script>", "' OR 1=1 --", "%s%s%n", "../../etc/passwd",
    # almost-right values
    str(uuid.uuid4()), "00000000-0000-0000-0000-000000000000", "not-a-uuid",
    "2024-13-45T25:61:00", "+90 532 123 45 67", "#zzzzzz",
    # lists and objects, nested junk
    [], [None], [1, "iki", None], ["x" * 5000], [TURKISH] * 50, [HUGE], ["a\x00"],
    {}, {"": None}, {"a": {"b": {"c": [1, {"d": None}]}}}, {TURKISH: HUGE}, {"k": "\x00"},
    {"\x00": 1}, _nested(60), [str(uuid.uuid4())], ["not-a-uuid"],
]

RAW_JUNK: list[tuple[bytes, str]] = [
    (b"", "application/json"), (b"{", "application/json"), (b"null", "application/json"),
    (b"[]", "application/json"), (b'"metin"', "application/json"), (b"42", "application/json"),
    (b"true", "application/json"), (b"\xff\xfe\x00garbage", "application/json"),
    (b"[" * 5000 + b"]" * 5000, "application/json"), (b'{"a":' * 3000 + b"1" + b"}" * 3000,
                                                      "application/json"),
    (json.dumps({"name": TURKISH}).encode("utf-16"), "application/json"),
    (b"name=x&phone=y", "application/x-www-form-urlencoded"), (b"<xml/>", "text/xml"),
    (b'{"name": "x"}', "text/plain"),
    (json.dumps(_nested(60)).encode(), "application/json"),
    (b'{"name": NaN, "position": Infinity}', "application/json"),
]


def write_routes(app) -> list[tuple[str, str, type | None]]:
    """(method, path template, body model) for every POST/PATCH/PUT under /api/v1."""
    found = []
    for route in iter_route_contexts(app.routes):
        path = route.path or ""
        if not path.startswith("/api/v1/"):
            continue
        for method in sorted((route.methods or set()) & {"POST", "PATCH", "PUT"}):
            field = route.body_field
            found.append((method, path, field.field_info.annotation if field else None))
    # Logging the admin out would make every later request a 401, so it goes last; blocking
    # the contact would turn away the later requests about its conversation, so it goes before.
    last = ("/api/v1/contacts/{contact_id}/block", "/api/v1/auth/logout")
    found.sort(key=lambda r: last.index(r[1]) + 1 if r[1] in last else 0)
    return found


async def test_garbage_never_gets_a_500_from_any_write_route(world, app):
    home = world.home
    # Ayla's session, through a transport that returns the 500 instead of raising the error.
    admin = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://testserver", cookies=home.ayla.client.cookies,
        headers={"x-csrf-token": home.ayla.csrf})
    message = await home.inbound("Merhaba, fiyat alabilir miyim?")
    tag = await admin.post("/api/v1/tags", json={"name": "vip"})
    field = await admin.post("/api/v1/custom-fields", json={
        "key": "sehir", "label": "Şehir", "field_type": "text"})
    assert tag.status_code == field.status_code == 201, (tag.text, field.text)
    later = await admin.post(
        f"/api/v1/conversations/{message.conversation_id}/scheduled-messages",
        json={"send_at": "2099-01-01T09:00:00+03:00", "message": {"body": "Sonra"}})
    assert later.status_code == 201, later.text
    # A flow with a whole graph (the clinic's), a conversation turn of its test panel to go on
    # from, and a rule: their routes' garbage gets past the ids to the checks of what is sent.
    flow = await admin.post("/api/v1/flows", json={"name": "Fuzz akışı", "template": "clinic"})
    assert flow.status_code == 201, flow.text
    first_turn = await admin.post(f"/api/v1/flows/{flow.json()['id']}/test", json={})
    assert first_turn.status_code == 200, first_turn.text
    rule_spec = {"name": "Fuzz kuralı", "enabled": False, "event": "conversation_closed",
                 "conditions": {"all": [{"field": "conversation.tags", "op": "has_any",
                                         "value": ["vip"]}]},
                 "actions": [{"type": "add_note", "body": "Kapandı: {{ contact.name }}"}]}
    rule = await admin.post("/api/v1/automation/rules", json=rule_spec)
    assert rule.status_code == 201, rule.text
    article = await admin.post("/api/v1/kb/articles", json={"title": "Fuzz", "body": "Fuzz"})
    assert article.status_code == 201, article.text
    ids = {"scheduled_id": later.json()["id"],
           "user_id": home.deniz.user_id, "group_id": home.group_id,
           "channel_id": home.channel_id, "contact_id": message.contact_id,
           "conversation_id": message.conversation_id, "tag_id": tag.json()["id"],
           "field_id": field.json()["id"], "flow_id": flow.json()["id"],
           "rule_id": rule.json()["id"], "article_id": article.json()["id"],
           # Objects of other modules: unknown ids still reach each route's body checks.
           "template_id": uuid.uuid4(), "sequence_id": uuid.uuid4(),
           "campaign_id": uuid.uuid4(), "list_id": uuid.uuid4(), "policy_id": uuid.uuid4(),
           "document_id": uuid.uuid4(), "role_id": uuid.uuid4(),
           "subscription_id": uuid.uuid4(), "delivery_id": uuid.uuid4(), "key_id": uuid.uuid4(),
           "consent_type": "message", "kind": "trendyol"}
    baselines = {
        ("POST", "/api/v1/auth/login"): {"company": home.slug, "username": "fuzz-nobody",
                                          "password": "wrong-password-1"},
        ("POST", "/api/v1/auth/password"): {"current_password": "wrong-password-1",
                                             "new_password": "another-password-2"},
        ("POST", "/api/v1/api-keys"): {"name": "fuzz", "role": "agent"},
        ("POST", "/api/v1/users"): {"username": "fuzzer", "display_name": "Fuzz",
                                     "password": "long-enough-password"},
        ("POST", "/api/v1/groups"): {"name": "Fuzz grubu"},
        ("POST", "/api/v1/channels"): {"kind": "webchat", "name": "Fuzz"},
        ("POST", "/api/v1/contacts"): {"name": "Fuzz"},
        ("POST", "/api/v1/tags"): {"name": "fuzz"},
        ("POST", "/api/v1/custom-fields"): {"key": "fuzz_alan", "label": "Fuzz",
                                             "field_type": "text"},
        ("POST", "/api/v1/conversations/{conversation_id}/assign"): {
            "assignee_id": str(home.bora.user_id)},
        ("POST", "/api/v1/conversations/{conversation_id}/transfer"): {
            "group_id": str(home.group_id)},
        ("POST", "/api/v1/conversations/{conversation_id}/status"): {"status": "pending"},
        ("POST", "/api/v1/conversations/{conversation_id}/tags"): {"add": ["vip"]},
        ("POST", "/api/v1/conversations/{conversation_id}/messages"): {"body": "Tabii"},
        ("POST", "/api/v1/contacts/{contact_id}/notes"): {"body": "Not"},
        ("POST", "/api/v1/conversations/{conversation_id}/notes"): {"body": "Not"},
        ("POST", "/api/v1/conversations"): {"channel_id": str(home.channel_id),
                                             "phone": "05321234567",
                                             "message": {"body": "Merhaba"}},
        ("POST", "/api/v1/conversations/{conversation_id}/scheduled-messages"): {
            "send_at": "2099-01-01T09:00:00", "message": {"body": "Sonra"}},
        ("PATCH", "/api/v1/conversations/{conversation_id}/scheduled-messages/{scheduled_id}"): {
            "body": "Değişti"},
        ("POST", "/api/v1/automation/rules"): rule_spec,
        ("PUT", "/api/v1/automation/rules/{rule_id}"): rule_spec,
        ("PUT", "/api/v1/automation/rules/{rule_id}/enabled"): {"enabled": False},
        ("PUT", "/api/v1/automation/rules/{rule_id}/position"): {"position": 0},
        ("POST", "/api/v1/automation/dry-run"): {
            "conversation_id": str(message.conversation_id), "event": "message_received"},
        ("POST", "/api/v1/flows"): {"name": "Fuzz akışı 2", "template": "hotel"},
        ("PATCH", "/api/v1/flows/{flow_id}"): {
            "graph": flow.json()["draft"], "triggers": flow.json()["draft_triggers"]},
        ("POST", "/api/v1/flows/{flow_id}/test"): {
            "state": first_turn.json()["state"], "choice_id": "fiyat", "text": "Fiyat bilgisi"},
        ("PUT", "/api/v1/flows/{flow_id}/enabled"): {"enabled": False},
        ("PUT", "/api/v1/bot-settings"): {"escape_words": ["insan", "temsilci"]},
        ("POST", "/api/v1/kb/articles"): {"kind": "faq", "title": "Fuzz?", "body": "Fuzz."},
        ("PUT", "/api/v1/kb/articles/{article_id}"): {"title": "Fuzz", "body": "Fuzz."},
        ("POST", "/api/v1/analysis/conversations"): {
            "conversation_ids": [str(message.conversation_id)]},
    }
    routes = write_routes(app)
    templates = {(method, path) for method, path, _ in routes}
    # The enumeration must really have found the API, or this test would pass vacuously.
    assert set(baselines) <= templates, set(baselines) - templates
    assert ("PATCH", "/api/v1/users/{user_id}") in templates
    assert len(routes) >= 25

    failures: list[str] = []
    sent = 0

    async def send_json(method: str, url: str, body: object) -> None:
        # Serialised here, not by httpx: NaN, Infinity and lone surrogates are legal for Python's
        # JSON parser on the server, and httpx refuses to send them.
        await send(method, url, content=json.dumps(body).encode(),
                   headers={"content-type": "application/json"})

    async def send(method: str, url: str, **kwargs) -> None:
        nonlocal sent
        sent += 1
        with capture_logs() as logs:  # and no slow rendering of tracebacks with huge locals
            response = await admin.request(method, url, **kwargs)
        crashes = [e.get("error_type") for e in logs if e["event"] == "request.unhandled_error"]
        if response.status_code >= 500 or crashes:
            described = {k: (repr(v)[:120]) for k, v in kwargs.items()}
            failures.append(f"{method} {url} {described} -> {response.status_code} "
                            f"{crashes} {response.text[:200]}")

    for method, template, model in routes:
        url = template.format(**{k: str(v) for k, v in ids.items()})
        baseline = baselines.get((method, template), {})
        for raw, content_type in RAW_JUNK:
            await send(method, url, content=raw, headers={"content-type": content_type})
        await send_json(method, url, {})
        await send_json(method, url, baseline)
        fields = [*getattr(model, "model_fields", {}), "unexpected_extra"]
        for name in fields:
            for junk in FIELD_JUNK:
                await send_json(method, url, {**baseline, name: junk})
        for junk in (None, TURKISH, HUGE, 0, [], {}):
            await send_json(method, url, dict.fromkeys(fields, junk))

    for files in ({"file": ("", b"")}, {"file": ("../../etc/passwd", b"root")},
                  {"file": ("şükrü\x00.pdf", b"%PDF-", "application/pdf")},
                  {"file": ("a" * 5000 + ".txt", b"x", "text/plain")},
                  {"file": ("x.bin", b"\x00" * 10, "bad/\x7f")},
                  {"wrong_name": ("x.txt", b"x", "text/plain")},
                  {"file": ("liste.csv", b"Telefon\n0532\x00123\n", "text/csv")},
                  {"file": ("liste.xlsx", b"PK\x03\x04 not a workbook", "text/csv")},
                  {"file": ("liste.csv", HUGE.encode("utf-8"), "text/csv")}):
        await send("POST", "/api/v1/attachments", files=files)
        await send("POST", "/api/v1/recipient-lists", files=files)
        await send("POST", "/api/v1/kb/documents", files=files)

    await admin.aclose()
    assert sent > 3000
    assert not failures, f"{len(failures)} of {sent} requests got a 5xx:\n" + "\n".join(
        failures[:40])


# ---- garbage inside a flow's draft, and in the test panel's state ----------------------------

# A draft is saved checked for shape only (the builder saves half-made steps), then run by the
# test panel and checked whole by publishing: neither may trip over what a step's settings hold.
_STEPS = {
    "message": {"type": "message", "text": "Merhaba", "next": "b"},
    "question": {"type": "question", "text": "Hangisi?", "style": "buttons",
                 "options": [{"id": "o1", "title": "Bir", "next": "b"}], "save_as": "secim"},
    "input": {"type": "input", "text": "Adınız?", "save_to": "var.ad", "validate": "text",
              "next": "b"},
    "condition": {"type": "condition", "else_next": "b", "branches": [
        {"when": {"field": "var.ad", "op": "contains_any", "value": ["ş"]}, "next": "b"}]},
    "set": {"type": "set", "fields": {"var.sehir": "Ankara"}, "next": "b"},
    "http": {"type": "http", "method": "GET", "url": "http://127.0.0.1:9/siparis", "next": "b",
             "error_next": "b"},
    "handoff": {"type": "handoff", "text": "Aktarıyorum", "note": "Not"},
    "wait": {"type": "wait", "seconds": 1, "next": "b"},
    "end": {"type": "end", "text": "Hoşça kalın"},
}
_STEP_JUNK: list[object] = [None, True, 1.5, 2**63, float("nan"), float("-inf"), "", TURKISH,
                            HUGE, "x\udfffy", "\x00", [], [None],
                            ["not-a-uuid"], {}, {"a": {"b": [1, {"d": None}]}}, _nested(60)]


async def test_garbage_in_flow_steps_and_test_panel_states_never_gets_a_500(world, app):
    home = world.home
    admin = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://testserver", cookies=home.ayla.client.cookies,
        headers={"x-csrf-token": home.ayla.csrf})
    created = await admin.post("/api/v1/flows", json={"name": "Çöp akışı"})
    assert created.status_code == 201, created.text
    url = f"/api/v1/flows/{created.json()['id']}"
    failures: list[str] = []
    statuses: list[int] = []

    async def send(method: str, path: str, body: object = None) -> httpx.Response:
        with capture_logs() as logs:
            response = await admin.request(
                method, path, content=json.dumps(body).encode() if body is not None else None,
                headers={"content-type": "application/json"})
        statuses.append(response.status_code)
        crashes = [e.get("error_type") for e in logs if e["event"] == "request.unhandled_error"]
        if response.status_code >= 500 or crashes:
            failures.append(f"{method} {path} {repr(body)[:200]} -> {response.status_code} "
                            f"{crashes}")
        return response

    after = {"type": "input", "text": "Sonra?", "save_to": "var.sonra", "next": None}
    for step in _STEPS.values():
        for key in [k for k in step if k != "type"]:
            for junk in _STEP_JUNK:
                graph = {"start": "a", "nodes": {"a": {**step, key: junk}, "b": after}}
                if (await send("PATCH", url, {"graph": graph})).status_code != 200:
                    continue
                started = await send("POST", f"{url}/test", {})
                await send("POST", f"{url}/publish")
                if started.status_code != 200:
                    continue
                state = started.json()["state"]
                await send("POST", f"{url}/test", {"state": state, "text": "Ayşe",
                                                   "choice_id": "o1"})
                await send("POST", f"{url}/test", {"state": {**state, "node": "a",
                                                             "status": "waiting"},
                                                   "timeout": True})
    # The state comes back from the browser: whatever it holds, the panel starts or goes on.
    await send("PATCH", url, {"graph": {"start": "a", "nodes": {"a": _STEPS["input"],
                                                                "b": _STEPS["condition"]}}})
    for junk in _STEP_JUNK:
        for state in ({"node": junk, "status": "waiting"}, {"node": "a", "status": junk},
                      {"node": "a", "status": "waiting", "variables": junk},
                      {"node": "a", "status": "waiting", "variables": {"ad": junk}},
                      {"node": "a", "status": "waiting", "retries": junk},
                      {"node": "a", "status": "waiting", "contact": junk},
                      {"node": "a", "status": "waiting",
                       "contact": dict.fromkeys(("name", "phone", "email", "tags", "custom"),
                                                junk)},
                      {"node": "a", "status": "waiting", "contact": {"custom": {"k": junk}}}):
            await send("POST", f"{url}/test", {"state": state, "text": "şehir"})
    await admin.aclose()
    # The loop must have reached the panel and publishing, or it would pass vacuously.
    assert statuses.count(200) > 200 and 201 in statuses and 422 in statuses
    assert not failures, f"{len(failures)} of {len(statuses)} requests got a 5xx:\n" + "\n".join(
        failures[:40])
