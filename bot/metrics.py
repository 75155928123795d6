"""Prometheus metrics, served at `GET /metrics` (bot/web/server.py).

One registry per application (not prometheus-client's global one), so tests can build many bots
in one process. Counters and histograms are per process: with several replicas, Prometheus scrapes
each and sums them. `jobs` is read from the database at scrape time, so every replica reports the
same figures for it (use max(), not sum(), across replicas).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Video-API calls range from a few ms (reads) to the 30 s long-poll.
_API_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 35.0, 60.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.jobs = Gauge(
            "luma_bot_jobs", "Jobs in the database by state.", ["state"], registry=self.registry
        )
        self.api_requests = Counter(
            "luma_bot_api_requests",
            "Video-API requests by family, operation and outcome.",
            ["family", "operation", "outcome"],
            registry=self.registry,
        )
        self.api_latency = Histogram(
            "luma_bot_api_request_seconds",
            "Video-API request latency by family, operation and outcome.",
            ["family", "operation", "outcome"],
            buckets=_API_BUCKETS,
            registry=self.registry,
        )
        self.deliveries = Counter(
            "luma_bot_deliveries",
            "Videos delivered: uploaded (video), fetched by Telegram from the result URL (url),"
            " or as a link (too large to upload).",
            ["kind"],
            registry=self.registry,
        )
        self.url_refusals = Counter(
            "luma_bot_url_refusals",
            "Videos Telegram could not fetch from their URL (DELIVER_BY_URL), uploaded instead.",
            registry=self.registry,
        )
        self.failures = Counter(
            "luma_bot_job_failures",
            "Jobs that ended without a video, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.prompt_help = Counter(
            "luma_bot_prompt_help",
            "Prompts the prompt helper worked on, by outcome (enhanced, translated, unchanged,"
            " failed: sent as typed).",
            ["outcome"],
            registry=self.registry,
        )
        self.telegram_retries = Counter(
            "luma_bot_telegram_retries",
            "Telegram requests answered 429 (flood control) and retried after the wait.",
            registry=self.registry,
        )
        self.updates = Counter(
            "luma_bot_updates",
            "Telegram updates received, by outcome (handled, duplicate, busy, unreadable).",
            ["outcome"],
            registry=self.registry,
        )

        # Selling credits (bot/domain/payments.py).
        self.purchases = Counter(
            "luma_bot_purchases",
            "Stars purchases recorded and credited, by how the bot learnt of them "
            "(update: the successful payment; reconciliation: Telegram's list of transactions).",
            ["source"],
            registry=self.registry,
        )
        self.refunds = Counter(
            "luma_bot_refunds",
            "Stars payments refunded (/refund, or found refunded at Telegram).",
            registry=self.registry,
        )
        self.stars = Counter(
            "luma_bot_stars",
            "Telegram Stars taken in purchases (in) and given back in refunds (out).",
            ["direction"],
            registry=self.registry,
        )
        self.pre_checkouts = Counter(
            "luma_bot_pre_checkouts",
            "Pre-checkout queries answered, by answer (ok, refused).",
            ["answer"],
            registry=self.registry,
        )

    def api_request(self, family: str, operation: str, outcome: str, seconds: float) -> None:
        self.api_requests.labels(family, operation, outcome).inc()
        self.api_latency.labels(family, operation, outcome).observe(seconds)

    def set_jobs(self, counts: dict[str, int]) -> None:
        self.jobs.clear()
        for state, count in counts.items():
            self.jobs.labels(state).set(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)
