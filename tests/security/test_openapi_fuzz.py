"""schemathesis against the app's own OpenAPI document: every operation, called over real HTTP
with an admin API key of a company made for it, with generated parameters and bodies. No answer
may be a 5xx, and every answer must match the status codes and the schema the document declares
for it (http/openapi.py declares the one error shape for every refusal).

Half the generated cases get the company's real ids in their path (a conversation, a contact, a
flow...), so the fuzzing reaches the operations' success paths and their response schemas, not
only their 404s. Hypothesis runs derandomized: the same cases every run.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import update

from invekto.auth.models import ApiKey
from invekto.auth.service import MAX_RATE_LIMIT
from tests.api.test_endpoint_matrix import (
    new_article,
    new_attachment,
    new_conversation,
    new_flow,
    new_rule,
    new_tag,
)
from tests.factories import create_company
from tests.processes import serving

EXAMPLES_PER_OPERATION = 10
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]

# The server would call an address the request (or a setting the fuzzing just saved) names: a
# generated host may be any address on the internet, which these tests never reach.
SKIPPED = {
    ("POST", "/api/v1/settings/email/test"): "connects to the saved SMTP server",
    ("POST", "/api/v1/settings/email/summary/send"): "connects to the saved SMTP server",
    ("POST", "/api/v1/settings/iys/test"): "calls the saved İYS API address",
    ("POST", "/api/v1/settings/iys/retry"): "calls the saved İYS API address",
    ("POST", "/api/v1/contacts/{contact_id}/consents/{consent_type}/iys-check"):
        "calls the saved İYS API address",
    ("POST", "/api/v1/flows/{flow_id}/test"): "runs the flow, whose HTTP steps call the URLs "
                                              "a generated draft names",
    ("POST", "/api/v1/contacts/{contact_id}/call"): "asks the channel's PBX, at the address its "
                                                    "settings name, to ring",
}


@dataclass
class Tally:
    operations: int = 0
    cases: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def fuzz(schema, base_url: str, api_key: str, real_ids: dict[str, str]) -> Tally:
    """Runs in a thread: schemathesis' calls are blocking, and the app serves on the test's
    event loop."""
    tally = Tally()
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {api_key}"
    turn = itertools.count()
    for result in schema.get_all_operations():
        operation = result.ok()
        key = (operation.method.upper(), operation.path)
        if key in SKIPPED:
            continue
        tally.operations += 1

        @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, database=None,
                  deadline=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case):
            if next(turn) % 2 == 0:
                for name in case.path_parameters or {}:
                    if name in real_ids:
                        case.path_parameters[name] = real_ids[name]
            response = case.call(base_url=base_url, session=http)
            tally.cases += 1
            tally.statuses[response.status_code] = tally.statuses.get(response.status_code,
                                                                      0) + 1
            case.validate_response(response, checks=CHECKS)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # every failing operation, reported
            tally.failures.append(f"{key[0]} {key[1]}: {str(exc)[:1500]}")
    return tally


async def test_every_operation_survives_fuzzing(app, rt):
    company = await create_company(rt, app)
    conversation = await new_conversation(company)
    tag_id, _ = await new_tag(company)
    real_ids = {name: str(value) for name, value in {
        "conversation_id": conversation.id, "contact_id": conversation.contact_id,
        "channel_id": company.channel_id, "group_id": company.group_id,
        "user_id": company.people["bora"].user_id, "tag_id": tag_id,
        "attachment_id": await new_attachment(company), "article_id": await new_article(company),
        "rule_id": await new_rule(company), "flow_id": await new_flow(company),
    }.items()}
    # Thousands of calls in a few minutes: the suite's key gets the highest per-key limit, so
    # its cases reach the routes instead of the rate limiter's 429.
    async with rt.db.tenant_session(company.tenant_id) as session:
        await session.execute(update(ApiKey).values(rate_limit_per_minute=MAX_RATE_LIMIT))
    schema = schemathesis.openapi.from_dict(app.openapi())
    async with serving(app) as url:
        tally = await asyncio.to_thread(fuzz, schema, url, company.api_key, real_ids)
    await company.close()
    total = sum(
        1 for item in schema.raw_schema["paths"].values() for method in item
        if method in ("get", "put", "post", "patch", "delete"))
    print(f"\nopenapi fuzz: {tally.operations} of {total} operations, {tally.cases} cases, "
          f"{len(SKIPPED)} skipped; answers by status: {dict(sorted(tally.statuses.items()))}")
    assert tally.failures == [], "\n\n".join(tally.failures)
    assert tally.operations == total - len(SKIPPED)
    assert tally.cases >= tally.operations * 3
    # The real ids reached the success paths, not only 404s.
    assert sum(count for status, count in tally.statuses.items() if status < 300) >= \
        tally.operations


def test_skipped_operations_exist(app):
    operations = {(method.upper(), path) for path, item in app.openapi()["paths"].items()
                  for method in item}
    assert set(SKIPPED) <= operations, set(SKIPPED) - operations

