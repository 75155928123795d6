"""Status messages: the edit budget keeps cosmetic edits from crowding out deliveries (fake
clock, no sleeps), and the text says where a job stands."""

from __future__ import annotations

import pytest

from bot.luma.models import GenerationState
from bot.worker.progress import EditBudget, status_text

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_private_chat_gets_one_edit_per_interval() -> None:
    clock = Clock()
    budget = EditBudget(private_interval=10, clock=clock)
    assert budget.try_spend(42)
    assert not budget.try_spend(42)
    clock.now += 9.9
    assert not budget.try_spend(42)
    clock.now += 0.2
    assert budget.try_spend(42)


def test_groups_get_a_few_edits_a_minute_whatever_the_number_of_jobs() -> None:
    clock = Clock()
    budget = EditBudget(group_per_minute=5, clock=clock)
    spent = 0
    for _ in range(600):  # ten minutes of ticks every second, from any number of jobs
        spent += budget.try_spend(-100123)
        clock.now += 1
    assert spent == 50  # 5 a minute: a quarter of Telegram's 20 per group per minute


def test_the_overall_rate_is_capped_and_refills() -> None:
    clock = Clock()
    budget = EditBudget(per_second=10, private_interval=0, clock=clock)
    granted = sum(budget.try_spend(chat) for chat in range(1, 101))
    assert granted == 10  # a burst across 100 chats gets a third of Telegram's 30/s
    clock.now += 0.5
    assert sum(budget.try_spend(chat) for chat in range(101, 201)) == 5


def test_state_changes_are_shown_in_private_chats_but_not_beyond_group_limits() -> None:
    clock = Clock()
    budget = EditBudget(private_interval=10, group_per_minute=5, clock=clock)
    assert budget.try_spend(42)  # a tick
    assert not budget.try_spend(42)  # another tick: too soon
    assert budget.try_spend(42, state_change=True)  # "Uploading…" still shows
    assert budget.try_spend(-7)
    assert not budget.try_spend(-7, state_change=True)  # groups: the limit holds


def test_the_status_shows_the_services_queue_place_and_estimate() -> None:
    queued = GenerationState.QUEUED
    assert "No. 3 in the video service's queue" in status_text("p", queued, 5, None, position=3)
    assert "About 2m to wait" in status_text("p", queued, 5, None, wait=150)
    dreaming = status_text("p", GenerationState.DREAMING, 5, None, wait=40)
    assert "Dreaming" in dreaming and "About 40s to go" in dreaming
    # Our own queue comes first while the service has not taken the job yet.
    assert "2 ahead of yours" in status_text("p", queued, 5, None, ahead=2)
