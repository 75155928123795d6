"""Allowances: how often each of many senders (users, chats) may do something. Each may do it
`burst` times at once, then `per_minute` times a minute (a token bucket per key); the least
recently seen keys are forgotten past `max_keys` (a forgotten key starts again with a full
burst). Used for what people send the bot (bot/telegram/flood.py) and the gallery's API.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from enum import Enum


class Verdict(Enum):
    GRANTED = "granted"
    REFUSED = "refused"
    FIRST_REFUSED = "first refused"  # the first refusal since the last grant: worth saying


@dataclass
class _Bucket:
    tokens: float
    at: float  # (monotonic) when `tokens` was counted
    refused: bool = False  # refused since the last grant
    group: str | None = None  # the last group seen, and what it got
    group_granted: bool = False


class Allowances:
    def __init__(self, *, burst: int, per_minute: float, max_keys: int = 100_000) -> None:
        self._burst = burst
        self._per_second = per_minute / 60
        self._max_keys = max_keys
        self._buckets: OrderedDict[int, _Bucket] = OrderedDict()

    @property
    def limited(self) -> bool:
        """False when there is no limit (`per_minute` 0)."""
        return self._per_second > 0

    def take(self, key: int, now: float, *, group: str | None = None) -> Verdict:
        """One from `key`'s allowance at `now` (monotonic seconds). Items of one `group` (an
        album) count once: they all get what the first one got."""
        if not self.limited:
            return Verdict.GRANTED
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = _Bucket(tokens=self._burst, at=now)
        else:
            bucket.tokens, bucket.at = self._tokens(bucket, now), now
        self._buckets[key] = bucket  # the most recently seen go last
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        if group is not None and group == bucket.group:
            return Verdict.GRANTED if bucket.group_granted else Verdict.REFUSED
        granted = bucket.tokens >= 1
        bucket.group, bucket.group_granted = group, granted
        if granted:
            bucket.tokens -= 1
            bucket.refused = False
            return Verdict.GRANTED
        first, bucket.refused = not bucket.refused, True
        return Verdict.FIRST_REFUSED if first else Verdict.REFUSED

    def seconds_until_next(self, key: int, now: float) -> float:
        """How long until `key` may be granted one again (0: now)."""
        bucket = self._buckets.get(key)
        if bucket is None or not self.limited:
            return 0.0
        return max(0.0, (1 - self._tokens(bucket, now)) / self._per_second)

    def _tokens(self, bucket: _Bucket, now: float) -> float:
        """What `bucket` holds at `now`: refilled since it was counted, up to the burst."""
        return min(self._burst, bucket.tokens + (now - bucket.at) * self._per_second)
