"""Fit the builtin answer model on the dev split: the score weights (best top-1), then the
confidence model (a logistic regression: is the best answer right?), then the threshold at
which 95% of the dev split's unanswerable questions are handed off. Prints the values to put
in ``invekto/ai/answering.py``; never reads the test split.

    .venv/bin/python -m bench.ai_eval.calibrate
"""

from __future__ import annotations

import asyncio
import itertools

import numpy as np
from sklearn.linear_model import LogisticRegression

from bench import common
from bench.ai_eval import faq
from invekto.ai import answering

HANDOFF_TARGET = 0.95
# Title, full-text and character weights tried.
GRID = list(itertools.product((0, 0.25, 0.5, 1.0), (0, 0.25, 0.5), (0, 0.25, 0.5, 1.0)))
# Folds of the held-out check of the picked weights.
FOLDS = 5


def _best_weights(cases: list[faq.Case]) -> list[tuple[float, answering.Model]]:
    """Every score weighting of ``GRID`` with its top-1 on ``cases``, best first."""
    grid = [(faq.score(cases, 1.0, model).top1, model) for model in (
        answering.Model(title_weight=title, lexical_weight=lexical, character_weight=character)
        for title, lexical, character in GRID)]
    grid.sort(key=lambda item: item[0], reverse=True)
    return grid


def _held_out_top1(cases: list[faq.Case]) -> float:
    """Top-1 of the weights picked on four fifths of the dev questions, on the fifth left out
    (each fifth in turn): how much of the picked weights' dev top-1 is fitted noise."""
    answerable = [case for case in cases if case.expected is not None]
    order = np.random.default_rng(0).permutation(len(answerable))
    right = 0.0
    for fold in np.array_split(order, FOLDS):
        left_out = {int(i) for i in fold}
        model = _best_weights([case for i, case in enumerate(answerable)
                               if i not in left_out])[0][1]
        right += faq.score([answerable[i] for i in left_out], 1.0, model).top1 * len(fold)
    return right / len(answerable)


def _remember_characters() -> None:
    """Compute each question's character similarities once: they do not depend on the weights
    tried, and fitting TF-IDF again for every weighting made the grid take minutes."""
    compute = answering._characters
    seen: dict[tuple, list[float]] = {}

    def remembered(question: str, hits: list) -> list[float]:
        key = (question, tuple(hit.chunk_id for hit in hits))
        if key not in seen:
            seen[key] = compute(question, hits)
        return seen[key]

    answering._characters = remembered


def main() -> None:
    with common.database() as (_server, url, _directory):
        cases = asyncio.run(faq.collect(url, "dev"))
    _remember_characters()
    grid = _best_weights(cases)
    for top1, model in grid[:5]:
        print(f"top-1 {top1:.3f}: title {model.title_weight}, lexical {model.lexical_weight}, "
              f"character {model.character_weight}")
    print(f"top-1 of weights picked without the question ({FOLDS}-fold): "
          f"{_held_out_top1(cases):.3f}")
    model = grid[0][1]
    features, right = [], []
    for case in cases:
        ranked = answering.rank(case.text, case.hits, model)
        features.append(answering.features(case.text, ranked))
        right.append(case.expected is not None and ranked[0][0].article_id == case.expected)
    fitted = LogisticRegression(max_iter=2000).fit(np.array(features), np.array(right))
    model = answering.Model(
        title_weight=model.title_weight, lexical_weight=model.lexical_weight,
        character_weight=model.character_weight,
        confidence_weights=tuple(round(float(w), 3) for w in fitted.coef_[0]),
        confidence_intercept=round(float(fitted.intercept_[0]), 3))
    print(model)
    for threshold in np.arange(0.5, 1.0, 0.01):
        scores = faq.score(cases, float(threshold), model)
        print(f"threshold {threshold:.2f}: handoff {scores.handoff:.3f}, answered right "
              f"{scores.answered_right:.3f}, wrong {scores.answered_wrong:.3f}")
        if scores.handoff >= HANDOFF_TARGET:
            print(f"-> threshold {threshold:.2f} hands off {scores.handoff:.1%} of dev")
            break


if __name__ == "__main__":
    main()
