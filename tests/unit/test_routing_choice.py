"""The four routing algorithms on constructed teams: who is skipped (offline, away, full, off
shift), how ties fall, and round robin's fairness over many assignments."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invekto.routing.choice import Candidate, choose, next_in_rotation

A, B, C, D = (uuid.UUID(int=n) for n in (1, 2, 3, 4))
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def agent(user_id, presence="online", *, open_=0, capacity=None, today=0, sent=None,
          on_shift=True) -> Candidate:
    return Candidate(user_id, presence, open_, capacity, today, sent, on_shift)


@pytest.mark.parametrize("algorithm", ["random", "round_robin", "least_today",
                                       "longest_waiting"])
def test_only_available_agents_are_chosen(algorithm):
    team = [agent(A, "offline"), agent(B, "away"), agent(C, open_=3, capacity=3),
            agent(D, on_shift=False)]
    assert choose(algorithm, team) is None
    team.append(agent(uuid.UUID(int=9)))
    for seed in range(20):
        assert choose(algorithm, team, rng=random.Random(seed)) == uuid.UUID(int=9)


def test_capacity_counts_open_conversations_and_none_means_no_limit():
    assert agent(A, open_=2, capacity=3).available
    assert not agent(A, open_=3, capacity=3).available
    assert agent(A, open_=500).available


def test_round_robin_follows_the_last_assigned_and_wraps():
    team = [agent(C), agent(A), agent(B)]
    assert choose("round_robin", team) == A
    assert choose("round_robin", team, last_assigned=A) == B
    assert choose("round_robin", team, last_assigned=B) == C
    assert choose("round_robin", team, last_assigned=C) == A


def test_round_robin_skips_the_unavailable_without_losing_the_order():
    team = [agent(A), agent(B, "away"), agent(C)]
    assert choose("round_robin", team, last_assigned=A) == C
    # The last assigned agent may have gone offline since: the turn still moves on.
    assert choose("round_robin", [agent(A, "offline"), agent(B), agent(C)],
                  last_assigned=A) == B


def test_least_today_takes_the_fewest_and_breaks_ties_by_id():
    assert choose("least_today", [agent(A, today=3), agent(B, today=1), agent(C, today=2)]) == B
    assert choose("least_today", [agent(C, today=1), agent(B, today=1), agent(A, today=4)]) == B


def test_longest_waiting_prefers_who_never_wrote_then_the_oldest_reply():
    team = [agent(A, sent=NOW - timedelta(minutes=5)), agent(B, sent=NOW - timedelta(hours=1)),
            agent(C, sent=NOW)]
    assert choose("longest_waiting", team) == B
    assert choose("longest_waiting", [*team, agent(D)]) == D
    tied = [agent(C, sent=NOW), agent(B, sent=NOW)]
    assert choose("longest_waiting", tied) == B


def test_random_draws_among_the_available_only():
    team = [agent(A), agent(B), agent(C, "offline")]
    drawn = Counter(choose("random", team, rng=random.Random(seed)) for seed in range(200))
    assert set(drawn) == {A, B}
    assert min(drawn.values()) > 60  # both drawn often: not always the first


def test_an_unknown_algorithm_is_refused():
    with pytest.raises(ValueError):
        choose("alphabetical", [agent(A)])


@settings(max_examples=200, deadline=None)
@given(team_size=st.integers(min_value=1, max_value=12),
       assignments=st.integers(min_value=1, max_value=300),
       start=st.integers(min_value=0, max_value=20))
def test_round_robin_is_fair_within_one(team_size, assignments, start):
    """However many assignments, and wherever the rotation stood, no agent gets more than one
    conversation above another."""
    team = [agent(uuid.UUID(int=n + 1)) for n in range(team_size)]
    last = uuid.UUID(int=start) if start else None
    given_to = Counter()
    for _ in range(assignments):
        last = choose("round_robin", team, last_assigned=last)
        given_to[last] += 1
    counts = [given_to[c.user_id] for c in team]
    assert max(counts) - min(counts) <= 1


@settings(max_examples=100, deadline=None)
@given(ids=st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=30,
                    unique=True), last=st.integers(min_value=0, max_value=10**6))
def test_the_next_in_rotation_is_the_first_id_after_the_last_or_the_smallest(ids, last):
    ordered = sorted(uuid.UUID(int=n) for n in ids)
    chosen = next_in_rotation(ordered, uuid.UUID(int=last))
    later = [u for u in ordered if u > uuid.UUID(int=last)]
    assert chosen == (later[0] if later else ordered[0])
