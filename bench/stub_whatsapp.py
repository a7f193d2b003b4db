"""The WhatsApp Cloud API simulator as its own quiet server process (no access log), for
benchmarks that send through it: `python -m bench.stub_whatsapp PORT`."""

import sys

import uvicorn

from invekto.channels.simulator.whatsapp import create_simulator

if __name__ == "__main__":
    uvicorn.run(create_simulator("bench-app-secret", phone_number_id="1098765",
                                 access_token="bench-token"),  # noqa: S106 - a stub
                host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
