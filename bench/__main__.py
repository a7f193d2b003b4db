"""`make bench`: run every benchmark; each writes bench/results/<name>.json."""

import json

from bench import ai_latency, api_read, broadcasts, inbox_pages, job_queue, reports, webhooks

for benchmark in (api_read, job_queue, inbox_pages, webhooks, broadcasts, ai_latency, reports):
    print(json.dumps(benchmark.run(), indent=2))
