"""A Netgsm REST v2 simulator (SMS): the calls Invekto makes, for one account, kept in memory.

Provider side (what ``NetgsmAdapter`` calls), HTTP basic auth (user code, password) checked on
each, Netgsm's ``{"code": "30", ...}`` otherwise. Netgsm answers its result codes in the JSON
body (``code``, ``description``); which HTTP status comes with an error code is not documented,
so this simulator sends 406 (``error_status``) and the adapter goes by the body's code.

* ``POST /sms/rest/v2/send`` (JSON): checks the documented fields (``msgheader`` one of the
  account's else 40, ``messages`` of ``{msg, no}`` with a Turkish number else 70, an empty text
  20, ``encoding`` "TR", ``iysfilter`` "0"/"11"/"12", İYS sending allowed else 50), records the
  send in ``state.sent`` and each message as a job (status 0, pending) in ``state.jobs``, and
  answers ``{"code": "00", "jobid": ...}``. Without ``encoding: TR`` Turkish letters reach the
  phone as their plain look-alikes (``Job.delivered_text``), as Netgsm does.
* ``POST /sms/rest/v2/report``: the jobs asked for (``jobids``, sent between ``startdate`` and
  ``stopdate``, ``dd.MM.yyyy HH:mm:ss``), paged; ``60`` when none; ``80`` beyond
  ``report_limit`` queries a minute.
* ``GET /sms/rest/v2/inbox?startdate&stopdate`` (``ddMMyyyyHHmmss``): the customers' messages
  within the window, every time; ``40`` when none. Without a window each message is listed once
  (consumed), as Netgsm documents.
* ``GET /sms/rest/v2/msgheader``: the account's sender names (``msgheaders``).

Times are Turkey's (Europe/Istanbul), as Netgsm's.

Test controls: ``customer_message`` queues an inbound SMS, ``set_status`` moves a job on (1
delivered, 3/4/11-17 failed...), ``fail_next`` makes the next call to an endpoint answer an
error code (30, 80, 85...) or an HTTP error (500).

In-process: ``httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator))``. As a server:
``python -m invekto.channels.simulator.netgsm --port 8030``.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from invekto.channels.adapters.netgsm import (
    INBOX_PATH,
    MSGHEADER_PATH,
    REPORT_PATH,
    SEND_PATH,
    TURKEY,
)
from invekto.channels.simulator.whatsapp import Failure, RecordedRequest
from invekto.channels.sms import sms_length

USERCODE = "8503000000"
PASSWORD = "simulator-netgsm-password-0001"
MSGHEADER = "ORNEKMAGAZA"
NUMBER = "8501234567"  # the account's number customers text
CUSTOMER = "905321234567"  # a customer, as Netgsm writes senders
BASE_URL = "http://netgsm.simulator"
FIRST_JOBID = 17370012345

DESCRIPTIONS = {
    "00": "queued",
    "20": "Message text problem or over the maximum length",
    "30": "Invalid username, password or API access",
    "40": "Message header (sender name) is not defined in the system",
    "50": "IYS controlled submissions cannot be made with your subscriber account",
    "51": "No IYS Brand information found for your subscription",
    "60": "No records found",
    "70": "Invalid query. One of the parameters is incorrect or a required field is missing",
    "80": "Sending limit exceeded",
    "85": "Duplicate sending limit exceeded",
    "100": "System error",
}
ENDPOINTS = ("send", "report", "inbox", "msgheader")
_NUMBER = re.compile(r"(90)?5[0-9]{9}")
# What a phone shows for Turkish letters sent without ``encoding: TR``.
_PLAIN = str.maketrans("çğışİĞŞ", "cgisIGS")


def netgsm_error(code: str, description: str | None = None) -> dict[str, Any]:
    return {"code": code, "description": description or DESCRIPTIONS.get(code, "Error")}


def _at(value: datetime) -> str:
    return value.astimezone(TURKEY).strftime("%d.%m.%Y %H:%M:%S")


def _parse(value: Any, pattern: str) -> datetime | None:
    try:
        return datetime.strptime(str(value), pattern).replace(tzinfo=TURKEY)
    except ValueError:
        return None


@dataclass
class SentRequest:
    """A send the simulator accepted."""

    body: dict[str, Any]  # the JSON as received
    jobid: str
    authorization: str  # the request's Authorization header
    content_type: str


@dataclass
class Job:
    """One message of an accepted send, as the report tells of it."""

    jobid: str
    number: str  # as sent (``no``)
    text: str  # as sent (``msg``)
    turkish: bool  # sent with ``encoding: TR``
    sent_at: datetime
    status: int = 0
    error_code: int = 0
    delivered_at: datetime | None = None

    @property
    def delivered_text(self) -> str:
        """The text as the phone shows it."""
        return self.text if self.turkish else self.text.translate(_PLAIN)

    @property
    def segments(self) -> int:
        return sms_length(self.delivered_text, turkish_shift=self.turkish).segments

    def report(self) -> dict[str, Any]:
        return {"jobid": self.jobid, "number": "90" + self.number[-10:], "status": self.status,
                "operator": 20, "msglen": self.segments,
                "deliveredDate": _at(self.delivered_at) if self.delivered_at else "",
                "errorCode": self.error_code, "referansID": ""}


@dataclass
class SimulatorState:
    sent: list[SentRequest] = field(default_factory=list)
    jobs: dict[str, Job] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    reports: list[Any] = field(default_factory=list)  # the report queries' JSON bodies
    inbox: list[dict[str, Any]] = field(default_factory=list)  # customers' messages queued
    consumed: set[int] = field(default_factory=set)  # inbox indexes listed without a window
    failures: dict[str, deque[Failure]] = field(
        default_factory=lambda: {name: deque() for name in ENDPOINTS})
    report_queries: deque[float] = field(default_factory=deque)  # monotonic times


class NetgsmSimulator:
    """An ASGI app speaking Netgsm's REST v2 SMS API, with helpers for the customer's side."""

    def __init__(self, usercode: str = USERCODE, password: str = PASSWORD, *,
                 msgheaders: list[str] | None = None, number: str = NUMBER,
                 iys_allowed: bool = True, report_limit: int = 10,
                 error_status: int = 406) -> None:
        self.usercode = usercode
        self.password = password
        self.msgheaders = list(msgheaders if msgheaders is not None else [MSGHEADER, "ORNEK"])
        self.number = number
        self.iys_allowed = iys_allowed
        self.report_limit = report_limit
        self.error_status = error_status
        self.state = SimulatorState()
        self._jobids = itertools.count(FIRST_JOBID)
        self._app = Starlette(routes=[
            Route(SEND_PATH, self._send, methods=["POST"]),
            Route(REPORT_PATH, self._report, methods=["POST"]),
            Route(INBOX_PATH, self._inbox, methods=["GET"]),
            Route(MSGHEADER_PATH, self._msgheader, methods=["GET"]),
        ])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    # ---- controls ------------------------------------------------------------------------------

    def fail_next(self, count: int = 1, *, code: str | None = "80",
                  http_status: int | None = None, endpoint: str = "send") -> None:
        """The next ``count`` calls to ``endpoint`` (send, report, inbox, msgheader) answer
        Netgsm's error ``code`` (by default 80, the rate limit), or, with ``code=None``, a bare
        HTTP ``http_status`` (500 by default) as a broken server would."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"no endpoint {endpoint!r}")
        for _ in range(count):
            if code is None:
                failure = Failure(http_status or 500, {})
            else:
                failure = Failure(http_status or self.error_status, netgsm_error(code))
            self.state.failures[endpoint].append(failure)

    def customer_message(self, text: str, *, sender: str = CUSTOMER,
                         receiver: str | None = None, at: datetime | None = None
                         ) -> dict[str, Any]:
        """A customer's SMS to the account (``receiver``, by default its number), received
        ``at`` (now by default): listed by the inbox from then on. Returns it as listed."""
        message = {"message": text, "sender": sender, "receiver": receiver or self.number,
                   "datetime": _at(at or datetime.now(UTC))}
        self.state.inbox.append(message)
        return message

    def set_status(self, jobid: str, status: int, *, error_code: int = 0,
                   delivered_at: datetime | None = None) -> None:
        """What the report says of ``jobid`` from now on."""
        job = self.state.jobs[jobid]
        job.status, job.error_code = status, error_code
        job.delivered_at = delivered_at or (datetime.now(UTC) if status == 1 else None)

    def reset(self) -> None:
        self.state = SimulatorState()

    # ---- the provider's side -------------------------------------------------------------------

    def _record(self, request: Request) -> None:
        self.state.requests.append(RecordedRequest(
            request.method, request.url.path, request.url.query,
            request.headers.get("host", ""),
            {k.lower(): v for k, v in request.headers.items()}))

    def _authorized(self, request: Request) -> bool:
        expected = "Basic " + base64.b64encode(
            f"{self.usercode}:{self.password}".encode()).decode()
        return secrets.compare_digest(request.headers.get("authorization", "").encode(),
                                      expected.encode())

    def _error(self, code: str) -> JSONResponse:
        return JSONResponse(netgsm_error(code), status_code=self.error_status)

    def _gate(self, request: Request, endpoint: str) -> Response | None:
        """Record the call; the answer instead of the endpoint's own, if any (an injected
        failure, bad credentials)."""
        self._record(request)
        if self.state.failures[endpoint]:
            failure = self.state.failures[endpoint].popleft()
            if not failure.body:
                return PlainTextResponse("Internal Server Error", status_code=failure.status)
            return JSONResponse(failure.body, status_code=failure.status)
        if not self._authorized(request):
            return self._error("30")
        return None

    @staticmethod
    async def _json(request: Request) -> Any:
        try:
            return json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return None

    async def _send(self, request: Request) -> Response:
        if (answer := self._gate(request, "send")) is not None:
            return answer
        body = await self._json(request)
        if not isinstance(body, dict):
            return self._error("70")
        if body.get("msgheader") not in self.msgheaders:
            return self._error("40")
        messages = body.get("messages")
        encoding = body.get("encoding")
        iys = body.get("iysfilter", "0")
        if (not isinstance(messages, list) or not messages
                or (encoding is not None and str(encoding).upper() != "TR")
                or iys not in ("0", "11", "12")):
            return self._error("70")
        if iys != "0" and not self.iys_allowed:
            return self._error("50")
        for message in messages:
            if not isinstance(message, dict) or not _NUMBER.fullmatch(str(message.get("no"))):
                return self._error("70")
            if not isinstance(message.get("msg"), str) or not message["msg"].strip():
                return self._error("20")
        jobid = str(next(self._jobids))
        now = datetime.now(UTC)
        for message in messages:
            # One bulk job id for the send; our adapter sends one message per job.
            self.state.jobs.setdefault(jobid, Job(jobid, str(message["no"]), message["msg"],
                                                  encoding is not None, now))
        self.state.sent.append(SentRequest(
            body, jobid, request.headers.get("authorization", ""),
            request.headers.get("content-type", "").split(";")[0]))
        return JSONResponse({"code": "00", "jobid": jobid, "description": "queued"})

    async def _report(self, request: Request) -> Response:
        if (answer := self._gate(request, "report")) is not None:
            return answer
        clock = time.monotonic()
        queries = self.state.report_queries
        while queries and clock - queries[0] > 60:
            queries.popleft()
        if len(queries) >= self.report_limit:
            return self._error("80")
        queries.append(clock)
        body = await self._json(request)
        self.state.reports.append(body)
        if not isinstance(body, dict):
            return self._error("70")
        start = _parse(body.get("startdate"), "%d.%m.%Y %H:%M:%S")
        stop = _parse(body.get("stopdate"), "%d.%m.%Y %H:%M:%S")
        jobids, size = body.get("jobids"), body.get("pagesize", 100)
        page = body.get("pagenumber", 0)
        if (start is None or stop is None or (jobids is not None and not isinstance(jobids, list))
                or not isinstance(size, int) or not 1 <= size <= 100
                or not isinstance(page, int) or page < 0):
            return self._error("70")
        jobs = [job for job in self.state.jobs.values()
                if (jobids is None or job.jobid in {str(j) for j in jobids})
                and start <= job.sent_at.replace(microsecond=0) <= stop]
        listed = jobs[page * size:(page + 1) * size]
        if not listed:
            return self._error("60")
        return JSONResponse({"code": "00", "description": "success",
                             "jobs": [job.report() for job in listed]})

    async def _inbox(self, request: Request) -> Response:
        if (answer := self._gate(request, "inbox")) is not None:
            return answer
        given = request.query_params
        if "startdate" not in given and "stopdate" not in given:
            # Without a window each message is listed once.
            indexes = [i for i in range(len(self.state.inbox)) if i not in self.state.consumed]
            self.state.consumed.update(indexes)
        else:
            start = _parse(given.get("startdate"), "%d%m%Y%H%M%S")
            stop = _parse(given.get("stopdate"), "%d%m%Y%H%M%S")
            if start is None or stop is None:
                return self._error("70")
            indexes = [i for i, m in enumerate(self.state.inbox)
                       if start <= _parse(m["datetime"], "%d.%m.%Y %H:%M:%S") <= stop]
        if not indexes:
            return self._error("40")
        return JSONResponse({"code": "00", "description": "success",
                             "messages": [dict(self.state.inbox[i]) for i in indexes]})

    async def _msgheader(self, request: Request) -> Response:
        if (answer := self._gate(request, "msgheader")) is not None:
            return answer
        return JSONResponse({"code": "00", "description": "success",
                             "msgheaders": list(self.msgheaders)})


def create_simulator(usercode: str = USERCODE, password: str = PASSWORD,
                     **options: Any) -> NetgsmSimulator:
    """A new simulator; ``options`` are ``NetgsmSimulator``'s keyword arguments."""
    return NetgsmSimulator(usercode, password, **options)


def main() -> None:  # pragma: no cover - manual use
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description="Netgsm REST v2 SMS API simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8030)
    args = parser.parse_args()
    uvicorn.run(create_simulator(), host=args.host, port=args.port)


if __name__ == "__main__":  # pragma: no cover
    main()
