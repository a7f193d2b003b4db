"""The WhatsApp Cloud API simulator as its own quiet server process (no access log), for
benchmarks that send through it: `python -m bench.stub_whatsapp PORT`. It forgets what it
received (tests read it; a benchmark counts in our database), so that 60,000 kept requests do
not slow its garbage collector down run after run."""

import sys

import uvicorn

from invekto.channels.simulator.whatsapp import create_simulator


def forgetful(simulator):
    async def app(scope, receive, send):
        await simulator(scope, receive, send)
        if len(simulator.state.requests) > 1000:
            simulator.state.requests.clear()
            simulator.state.sent.clear()
    return app


if __name__ == "__main__":
    stub = create_simulator("bench-app-secret", phone_number_id="1098765",
                            access_token="bench-token")  # noqa: S106 - a stub
    uvicorn.run(forgetful(stub), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False)
