"""Closed-loop webhook load: `concurrency` clients posting signed WhatsApp deliveries back to back,
each a new message (so nothing is deduplicated away). Prints a JSON summary."""

import asyncio
import hashlib
import hmac
import itertools
import json
import sys
import time

import httpx

_counter = itertools.count()


def delivery(secret: str, phone_number_id: str) -> tuple[bytes, dict[str, str]]:
    n = next(_counter)
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "waba", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "908501234567",
                         "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": f"Müşteri {n % 500}"},
                          "wa_id": f"90532{n % 500:07d}"}],
            "messages": [{"from": f"90532{n % 500:07d}", "id": f"wamid.bench.{time.time_ns()}.{n}",
                          "timestamp": str(int(time.time())), "type": "text",
                          "text": {"body": f"Merhaba, {n} numaralı mesaj"}}]}}]}]},
        ensure_ascii=False).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Hub-Signature-256": f"sha256={signature}",
                  "Content-Type": "application/json"}


async def main(url: str, secret: str, phone_number_id: str, seconds: float,
               concurrency: int) -> None:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await client.post(url, content=delivery(secret, phone_number_id)[0],
                          headers=delivery(secret, phone_number_id)[1])  # warm-up (may 401)
        stop_at = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                body, headers = delivery(secret, phone_number_id)
                started = time.perf_counter()
                response = await client.post(url, content=body, headers=headers)
                if response.status_code != 200:
                    errors += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    print(json.dumps({"requests": len(latencies), "errors": errors,
                      "rps": len(latencies) / elapsed,
                      "p50_ms": latencies[len(latencies) // 2] * 1000,
                      "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]),
                     int(sys.argv[5])))
