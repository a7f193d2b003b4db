"""Stand-ins for messaging providers' HTTP APIs: stub servers for tests, and fake providers for
browser tests and the demo. Each runs in-process (``httpx.ASGITransport``) or under uvicorn."""
