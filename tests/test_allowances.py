"""The token buckets behind flood control and the gallery's API limit (bot/allowances.py)."""

from __future__ import annotations

import pytest

from bot.allowances import Allowances, Verdict

pytestmark = pytest.mark.unit

G, R, F = Verdict.GRANTED, Verdict.REFUSED, Verdict.FIRST_REFUSED


def test_a_burst_then_the_rate_and_one_first_refusal_per_streak() -> None:
    allowances = Allowances(burst=3, per_minute=60)  # one a second after the burst
    assert [allowances.take(1, 0.0) for _ in range(5)] == [G, G, G, F, R]
    assert allowances.seconds_until_next(1, 0.0) == pytest.approx(1.0)
    assert allowances.take(1, 1.0) == G  # refilled one
    assert allowances.take(1, 1.0) == F  # a new streak is said again
    assert allowances.take(2, 1.0) == G  # every key has its own
    assert allowances.take(1, 100.0) == G and allowances.seconds_until_next(1, 100.0) == 0


def test_a_group_counts_once_and_gets_what_its_first_item_got() -> None:
    allowances = Allowances(burst=2, per_minute=1)
    assert allowances.take(1, 0.0) == G
    assert [allowances.take(1, 0.0, group="a") for _ in range(4)] == [G, G, G, G]
    assert [allowances.take(1, 0.0, group="b") for _ in range(3)] == [F, R, R]


def test_no_limit_grants_everything_and_forgotten_keys_start_full() -> None:
    unlimited = Allowances(burst=1, per_minute=0)
    assert not unlimited.limited
    assert {unlimited.take(1, 0.0) for _ in range(50)} == {G}
    small = Allowances(burst=1, per_minute=1, max_keys=2)
    assert small.take(1, 0.0) == G and small.take(1, 0.0) == F
    small.take(2, 0.0)
    small.take(3, 0.0)  # key 1, the least recently seen, is forgotten
    assert small.take(1, 0.0) == G
