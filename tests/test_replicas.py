"""Three `python -m bot` replicas in webhook mode on one PostgreSQL database, behind a load
balancer, with Telegram delivering some updates twice; one replica is SIGKILLed while it has
videos in the making. Every job ends delivered exactly once, every update is handled once, and
the quota is exact.

Skipped without TEST_DATABASE_URL (`.ci/run` sets it, so CI always runs it)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from emulator import EmulatorConfig, run_emulator
from playground.fake_telegram import FakeTelegram
from tests.conftest import API_KEY, BOT_TOKEN, became_healthy, free_port
from tests.fakes.load_balancer import LoadBalancer
from tests.processes import ROOT, without_bot_settings

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
pytestmark = pytest.mark.skipif(
    not TEST_DATABASE_URL, reason="TEST_DATABASE_URL not set: PostgreSQL tests skipped"
)
SECRET = "replica-test-secret"
REPLICAS = 3
DAILY_QUOTA = 2
FIRST_WAVE_USERS = range(2001, 2009)  # 8 users asking 3 times each: 2 accepted, 1 refused
SECOND_WAVE_USERS = range(3001, 3005)  # after the kill: 1 each
ALBUM_USER = 4001


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    """A database of its own, dropped afterwards."""
    assert TEST_DATABASE_URL is not None
    name = f"replicas_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(TEST_DATABASE_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield TEST_DATABASE_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


class Replica:
    def __init__(self, port: int, process: asyncio.subprocess.Process, log: Path) -> None:
        self.port = port
        self.process = process
        self.log = log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_entries(self) -> list[dict[str, Any]]:
        entries = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                entries.append(json.loads(line))
            except ValueError:
                continue
        return entries


def key_of(message: dict[str, Any]) -> tuple[int, int]:
    return message["chat"]["id"], message["message_id"]


def replica_environment(**values: str) -> dict[str, str]:
    return {**without_bot_settings(), **values}


async def start_replica(environment: dict[str, str], tmp_path: Path, number: int) -> Replica:
    port = free_port()
    log = tmp_path / f"replica-{number}.log"
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot",
            env={**environment, "PORT": str(port)}, cwd=ROOT, stdout=sink, stderr=sink,
        )  # fmt: skip
    return Replica(port, process, log)


async def stop_replicas(replicas: list[Replica]) -> None:
    """SIGTERM to all at once (they stop together), then each gets 30 s before SIGKILL."""
    for replica in replicas:
        if replica.process.returncode is None:
            replica.process.send_signal(signal.SIGTERM)
    for replica in replicas:
        try:
            async with asyncio.timeout(30):
                await replica.process.wait()
        except TimeoutError:
            replica.process.kill()


async def until(predicate: Any, timeout: float) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not await predicate():  # noqa: ASYNC110 - polling another process's database
            await asyncio.sleep(0.1)


async def test_three_replicas_one_killed_every_job_once_and_quota_exact(
    tg: FakeTelegram, database_url: str, tmp_path: Path
) -> None:
    tg.duplicate_rate = 0.25  # Telegram re-sends what it thinks went unanswered
    tg.set_webhook_interval = 0
    config = EmulatorConfig(queue_seconds=0.1, dream_seconds=2.0, long_poll_seconds=0.5)
    replicas: list[Replica] = []
    async with run_emulator(config) as emulator, LoadBalancer([]).running() as balancer:
        environment = replica_environment(
            TELEGRAM_BOT_TOKEN=BOT_TOKEN,
            TELEGRAM_API_URL=tg.root,
            TELEGRAM_WEBHOOK="true",
            WEBHOOK_SECRET=SECRET,
            PUBLIC_URL=str(balancer.url),
            LUMA_API_KEY=API_KEY,
            LUMA_API_URL=str(emulator.url),
            DATABASE_URL=database_url,
            DAILY_QUOTA=str(DAILY_QUOTA),
            MAX_ACTIVE_PER_USER="5",
            JOB_LEASE_SECONDS="2",
            LUMA_LONG_POLL_SECONDS="0.5",
            LUMA_POLL_INTERVAL="0.1",
            PROGRESS_INTERVAL="0.5",
            ALBUM_WAIT_SECONDS="0.5",
            LOG_FORMAT="json",
            LOG_LEVEL="INFO",
        )
        database: asyncpg.Connection | None = None
        try:
            for number in range(REPLICAS):
                replicas.append(await start_replica(environment, tmp_path, number))
            for replica in replicas:
                healthy = await became_healthy(replica.url, replica.process, seconds=30)
                assert healthy, f"replica {replica.port}:\n{replica.log.read_text()}"
            balancer.targets = [replica.url for replica in replicas]
            deploy = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "set-webhook", env=environment, cwd=ROOT
            )
            assert await deploy.wait() == 0
            database = await asyncpg.connect(database_url)

            async def count(sql: str) -> int:
                assert database is not None
                return int(await database.fetchval(sql))

            def reaches(sql: str, expected: int) -> Any:
                async def check() -> bool:
                    return await count(sql) == expected

                return check

            # Wave 1: three requests per user (one over the quota) and a two-photo album.
            requests: set[tuple[int, int]] = set()  # (chat id, message id) of each request
            for attempt in range(DAILY_QUOTA + 1):
                for user in FIRST_WAVE_USERS:
                    sent = tg.user_sends(f"/video wave one, user {user} #{attempt}", user_id=user)
                    requests.add(key_of(sent))
            album = tg.user_sends_photo(
                caption="/video an album split between replicas",
                user_id=ALBUM_USER,
                media_group_id="album-1",
            )
            tg.user_sends_photo(user_id=ALBUM_USER, media_group_id="album-1")
            await tg.wait_for_webhook_idle(timeout=60)
            first_wave_jobs = len(FIRST_WAVE_USERS) * DAILY_QUOTA + 1  # + the album
            await until(reaches("SELECT count(*) FROM generations", first_wave_jobs), 30)
            # Kill one replica while videos are in the making (none mid-submit: a create
            # whose answer is lost is refunded by policy, see docs/reliability.md).
            unsubmitted = "SELECT count(*) FROM generations WHERE state IN ('queued','submitting')"
            await until(reaches(unsubmitted, 0), 30)
            victim = replicas[1]
            victim.process.send_signal(signal.SIGKILL)
            await victim.process.wait()

            # Wave 2 reaches the survivors only.
            for user in SECOND_WAVE_USERS:
                sent = tg.user_sends(f"/video wave two, user {user}", user_id=user)
                requests.add(key_of(sent))
            total_jobs = first_wave_jobs + len(SECOND_WAVE_USERS)
            delivered = "SELECT count(*) FROM generations WHERE state = 'delivered'"
            await until(reaches(delivered, total_jobs), 90)
            await tg.wait_for_webhook_idle(timeout=30)

            # Every job delivered exactly once: one video message per job, none twice.
            videos = tg.videos()
            video_messages = Counter(
                (v.result["chat"]["id"], v.result["message_id"]) for v in videos
            )
            assert len(video_messages) == total_jobs
            distinct = {(v.result["chat"]["id"], v.result["message_id"]): v for v in videos}
            per_request = Counter(key_of(v.result["reply_to_message"]) for v in distinct.values())
            assert all(n == 1 for n in per_request.values()), per_request
            assert await count("SELECT count(*) FROM generations WHERE state <> 'delivered'") == 0

            # Quota exact: each first-wave user charged exactly DAILY_QUOTA, refused once.
            charged = await database.fetch(
                "SELECT payer_id, count(*) AS n FROM generations "
                "WHERE charged_day IS NOT NULL AND NOT refunded GROUP BY payer_id"
            )
            charges = {row["payer_id"]: row["n"] for row in charged}
            for user in FIRST_WAVE_USERS:
                assert charges[user] == DAILY_QUOTA
            for user in SECOND_WAVE_USERS:
                assert charges[user] == 1
            refusals = Counter(
                c.result["chat"]["id"]
                for c in tg.calls_of("sendMessage")
                if c.ok and "used all" in c.result["text"]
            )
            assert all(refusals[user] == 1 for user in FIRST_WAVE_USERS), refusals

            # Every update handled once: each request got exactly one answer (status or
            # refusal) however often Telegram delivered it, and every update is recorded.
            answers = Counter(
                key_of(c.result["reply_to_message"])
                for c in tg.calls_of("sendMessage")
                if c.ok and c.result.get("reply_to_message")
            )
            assert all(answers[request] == 1 for request in requests), answers
            delivered_ids = set(tg.delivered_update_ids())
            handled = await count(
                "SELECT count(*) FROM processed_updates WHERE handled_at IS NOT NULL"
            )
            assert handled == len(delivered_ids)
            assert len(tg.delivered_update_ids()) > len(delivered_ids), "some came twice"

            # The killed replica had work in hand, and the survivors finished it.
            victim_jobs = {
                entry["job_id"]
                for entry in victim.log_entries()
                if "job_id" in entry and "submitted as" in entry["message"]
            }
            assert victim_jobs, "the killed replica had submitted jobs"
            finished_by_survivors = {
                entry["job_id"]
                for replica in replicas
                if replica is not victim
                for entry in replica.log_entries()
                if "job_id" in entry and "delivered as message" in entry["message"]
            }
            assert victim_jobs & finished_by_survivors, "its jobs were taken over"
            assert key_of(album) in per_request
        finally:
            if database is not None:
                await database.close()
            await stop_replicas(replicas)
    for replica in replicas:
        text = replica.log.read_text(errors="replace")
        assert BOT_TOKEN not in text and BOT_TOKEN.split(":")[1] not in text
