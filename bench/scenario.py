"""One benchmark run: the emulator and the fake Bot API in this process, `python -m bot` as a
child process, users sending `/video` at a fixed arrival rate; everything measured from outside.

Timings use one clock (time.monotonic in this process): when the command was queued, when the
emulator marked the generation completed, and when the fake Bot API received the bot's calls.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import sqlite3
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from emulator import EmulatorConfig, run_emulator
from emulator.state import State
from playground.fake_telegram import FakeTelegram
from tests.conftest import became_healthy, free_port

ROOT = Path(__file__).parent.parent
BOT_TOKEN = "123456:BENCH-fake-token-000000000000000000"
API_KEY = "bench-luma-key"
STATUS_METHODS = ("sendMessage",)
EDIT_METHODS = (
    "editMessageText",
    "editMessageMedia",
    "editMessageCaption",
    "editMessageReplyMarkup",
)
SEND_METHODS = ("sendMessage", "sendVideo", "sendPhoto")
LINK_METHODS = ("editMessageMedia", "editMessageText", "sendPhoto", "sendMessage")


@dataclass(frozen=True)
class Scenario:
    name: str
    generations: int
    rate: float  # commands per second
    users: int
    gen_min: float  # seconds of generation time (uniform)
    gen_max: float
    family: str = "aiml-v2"
    mode: str = "polling"  # or "webhook"
    flood_limits: bool = True
    max_connections: int = 500
    max_concurrent: int = 2000
    # Stop waiting for deliveries after this long past the last command (in-flight runs: 0).
    settle_timeout: float = 300.0
    sample_every: float = 0.5
    profile: Path | None = None  # run the bot under cProfile, writing its stats here
    # Run the bot from another checkout (an earlier commit, for before/after figures).
    bot_root: Path = ROOT
    # "throughput": every generation is waited for and judged against the targets;
    # "inflight": generations outlast the run; what counts is the bot's footprint meanwhile;
    # "burst": many videos finishing at once, judged on memory; "oversize": videos over the
    # upload limit, each delivered as a link.
    kind: str = "throughput"
    # Bytes of each result video (None: the emulator's 9 KB sample).
    video_size: int | None = None
    deliver_by_url: bool = False
    # Share of result downloads the emulator fails with 503 (storage that fails now and then).
    download_error_rate: float = 0.0
    cpu_target_ms: float = 20.0


@dataclass
class Sample:
    at: float  # seconds since the first command
    in_flight: int  # generations the emulator has not finished
    rss_mb: float
    cpu_seconds: float
    connections: int  # the bot's TCP connections to the emulator
    api_requests: int  # cumulative


@dataclass
class Result:
    scenario: Scenario
    sent: int = 0
    accepted: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    quota_exact: bool | None = None
    first_reply: list[float] = field(default_factory=list)
    completion_to_delivery: list[float] = field(default_factory=list)
    api_requests: int = 0
    api_allowance: float = 0.0  # sum over generations of 1 + ceil(T/30)
    generation_seconds: float = 0.0  # sum of generation times
    telegram_sends: int = 0
    telegram_edits: int = 0
    telegram_429s: int = 0
    peak_rss_mb: float = 0.0
    cpu_seconds: float = 0.0
    # Bytes the bot moved: downloaded from the API's storage, uploaded to Telegram.
    bytes_downloaded: int = 0
    bytes_uploaded: int = 0
    uploads: int = 0  # videos the bot uploaded
    by_url: int = 0  # videos Telegram fetched from their URL
    url_refused: int = 0  # URLs Telegram could not fetch (then uploaded)
    links: int = 0  # videos too large to upload, sent as a link
    wall_seconds: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def peak_in_flight(self) -> int:
        return max((x.in_flight for x in self.samples), default=0)

    @property
    def peak_connections(self) -> int:
        return max((x.connections for x in self.samples), default=0)

    def per_generation(self, value: float) -> float:
        return value / self.delivered if self.delivered else float("nan")

    @property
    def bytes_moved(self) -> int:
        return self.bytes_downloaded + self.bytes_uploaded


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


def _environment(
    scenario: Scenario, tg: FakeTelegram, api_url: str, folder: Path
) -> dict[str, str]:
    keep = ("TELEGRAM_", "LUMA_", "DATABASE_", "DAILY_", "ADMIN_", "PUBLIC_", "WEBHOOK_", "MAX_")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(keep)}
    port = free_port()
    per_user = math.ceil(scenario.generations / scenario.users)
    environment.update(
        TELEGRAM_BOT_TOKEN=BOT_TOKEN,
        TELEGRAM_API_URL=tg.root,
        LUMA_API_KEY=API_KEY,
        LUMA_API_URL=api_url,
        LUMA_API_FAMILY=scenario.family,
        DATABASE_URL=f"sqlite:///{folder / 'bot.sqlite3'}",
        DAILY_QUOTA=str(per_user),
        MAX_ACTIVE_PER_USER=str(per_user),
        MAX_CONCURRENT_GENERATIONS=str(scenario.max_concurrent),
        LUMA_MAX_CONNECTIONS=str(scenario.max_connections),
        LOG_LEVEL="WARNING",
        PORT=str(port),
        DELIVER_BY_URL=str(scenario.deliver_by_url).lower(),
    )
    if scenario.mode == "webhook":
        environment.update(
            TELEGRAM_WEBHOOK="true",
            PUBLIC_URL=f"http://127.0.0.1:{port}",
            WEBHOOK_SECRET="bench-webhook-secret",
        )
    return environment


async def run(scenario: Scenario) -> Result:
    result = Result(scenario=scenario)
    config = EmulatorConfig(
        queue_seconds=0.0,
        dream_seconds=scenario.gen_min,
        dream_seconds_max=scenario.gen_max,
        error_seed=1,
        max_batch=100,
        video_size=scenario.video_size,
        download_error_rates={503: scenario.download_error_rate}
        if scenario.download_error_rate
        else {},
    )
    with tempfile.TemporaryDirectory(prefix="bench-") as temp:
        folder = Path(temp)
        # Uploads are counted, not kept: 1,000 videos of 5 MB would fill this process.
        tg_context = FakeTelegram(
            token=BOT_TOKEN,
            bot_username="BenchBot",
            flood_limits=scenario.flood_limits,
            keep_uploads=False,
        )
        async with run_emulator(config) as emulator, tg_context as tg:
            await _drive(scenario, result, emulator, tg, folder)
    return result


async def _drive(
    scenario: Scenario, result: Result, emulator: Any, tg: FakeTelegram, folder: Path
) -> None:
    environment = _environment(scenario, tg, str(emulator.url), folder)
    port = int(environment["PORT"])
    log_path = folder / "bot.log"
    with log_path.open("wb") as log_file:
        profiling = ["-m", "cProfile", "-o", str(scenario.profile)] if scenario.profile else []
        process = await asyncio.create_subprocess_exec(
            sys.executable, *profiling, "-m", "bot", env=environment, cwd=scenario.bot_root,
            stdout=log_file, stderr=log_file,
        )  # fmt: skip
    try:
        if not await became_healthy(f"http://127.0.0.1:{port}", process):
            raise RuntimeError("the bot exited or never became healthy during start-up")
        if scenario.mode == "webhook":
            deploy = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "set-webhook", env=environment, cwd=scenario.bot_root
            )
            await deploy.wait()
        watched = psutil.Process(process.pid)
        cpu_at_start = sum(watched.cpu_times()[:2])
        emulator_port = int(str(emulator.url).rsplit(":", 1)[1])
        sent_at: dict[tuple[int, int], float] = {}
        started = time.monotonic()
        sampler = asyncio.create_task(
            _sample(scenario, result, emulator, watched, emulator_port, started, cpu_at_start)
        )
        for index in range(scenario.generations):
            due = started + index / scenario.rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            user = 10_000 + index % scenario.users
            message = tg.user_sends(f"/video benchmark scene {index}", user_id=user)
            sent_at[(message["chat"]["id"], message["message_id"])] = time.monotonic()
        result.sent = scenario.generations
        deadline = time.monotonic() + scenario.settle_timeout
        # Polled twice a second: waking on every call (the fake's wait_until) costs O(calls²).
        while time.monotonic() < deadline and _deliveries(tg) < scenario.generations:
            if process.returncode is not None:
                break
            await asyncio.sleep(0.5)
        result.wall_seconds = time.monotonic() - started
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
        result.cpu_seconds = sum(watched.cpu_times()[:2]) - cpu_at_start
        _measure(result, emulator, tg, sent_at)
    finally:
        if process.returncode is not None:
            tail = log_path.read_text(errors="replace").splitlines()[-15:]
            result.notes.append(
                f"the bot exited early (code {process.returncode}): " + " | ".join(tail)
            )
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(60):
                    await process.wait()
            except TimeoutError:
                process.kill()
    result.quota_exact = _quota_exact(folder / "bot.sqlite3", scenario)


async def _sample(
    scenario: Scenario,
    result: Result,
    emulator: Any,
    watched: psutil.Process,
    emulator_port: int,
    started: float,
    cpu_at_start: float,
) -> None:
    while True:
        try:
            rss = watched.memory_info().rss / 2**20
            cpu = sum(watched.cpu_times()[:2]) - cpu_at_start
            connections = sum(
                1
                for connection in watched.net_connections(kind="tcp")
                if connection.raddr and connection.raddr.port == emulator_port
            )
        except psutil.Error:
            return
        in_flight = sum(1 for g in emulator.generations.values() if not g.state.terminal)
        api = sum(1 for r in emulator.requests if _about_a_generation(r))
        result.samples.append(
            Sample(time.monotonic() - started, in_flight, rss, cpu, connections, api)
        )
        result.peak_rss_mb = max(result.peak_rss_mb, rss)
        await asyncio.sleep(scenario.sample_every)


def _about_a_generation(request: Any) -> bool:
    """Creates and reads of generations; not result downloads or the health check's ping."""
    kind = request.route.partition(".")[0]
    if kind == "create":
        return True
    return kind == "fetch" and any(
        key.startswith(("generation_id", "ids")) for key in request.query
    )


def _deliveries(tg: FakeTelegram) -> int:
    """Messages that deliver a generation: a video, or the link to one too large to upload."""
    return len(_delivered_messages(tg))


def _delivered_messages(tg: FakeTelegram) -> dict[str, dict[tuple[int, int], float]]:
    """By generation id (the caption or text ends with it): the messages that delivered it,
    each with when the fake received it."""
    found: dict[str, dict[tuple[int, int], float]] = defaultdict(dict)
    for video in tg.videos():
        messages = found[_generation_id(video.params.get("caption"))]
        messages.setdefault(_message_key(video.result), video.at)
    for call in tg.calls:
        # A link message names the result URL.
        if call.ok and call.method in LINK_METHODS and "/files/" in (text := _text(call)):
            found[_generation_id(text)].setdefault(_message_key(call.result), call.at)
    return found


def _text(call: Any) -> str:
    """What a message call shows: its text or caption, or its new media's caption."""
    media = call.params.get("media")
    if isinstance(media, dict):
        return str(media.get("caption") or "")
    return str(call.params.get("caption") or call.params.get("text") or "")


def _generation_id(text: Any) -> str:
    words = re.sub(r"<[^>]+>", "", str(text or "")).split()
    return words[-1] if words else ""


def _message_key(message: dict) -> tuple[int, int]:
    return message["chat"]["id"], message["message_id"]


def _measure(
    result: Result, emulator: Any, tg: FakeTelegram, sent_at: dict[tuple[int, int], float]
) -> None:
    calls = [c for c in tg.calls if c.ok]
    # First reply: the status message answering each command.
    replies: dict[tuple[int, int], float] = {}
    for call in calls:
        if call.method in STATUS_METHODS and call.result.get("reply_to_message"):
            replied = call.result["reply_to_message"]
            key = (replied["chat"]["id"], replied["message_id"])
            replies.setdefault(key, call.at)
    result.first_reply = [replies[key] - sent for key, sent in sent_at.items() if key in replies]
    result.accepted = len(emulator.generations)
    # Deliveries: one message per generation (its video, or its link), matched by the id that
    # ends the caption; the time is when its first such message arrived.
    delivered = _delivered_messages(tg)
    delivered_at = {key: min(messages.values()) for key, messages in delivered.items()}
    result.delivered = len(delivered)
    result.duplicated = sum(1 for messages in delivered.values() if len(messages) > 1)
    result.lost = result.sent - result.delivered
    _count_bytes(result, emulator, tg, delivered)
    for generation in emulator.generations.values():
        completed = [at for state, at in generation.history if state is State.COMPLETED]
        if completed and generation.id in delivered_at:
            result.completion_to_delivery.append(delivered_at[generation.id] - completed[0])
        first, last = generation.history[0][1], generation.history[-1][1]
        seconds = last - first
        result.generation_seconds += seconds
        result.api_allowance += 1 + math.ceil(seconds / 30)
    result.api_requests = sum(1 for r in emulator.requests if _about_a_generation(r))
    methods = Counter(c.method for c in calls)
    result.telegram_sends = sum(methods[m] for m in SEND_METHODS)
    result.telegram_edits = sum(methods[m] for m in EDIT_METHODS)
    result.telegram_429s = int(getattr(tg, "flood_refusal_count", 0))


def _count_bytes(
    result: Result, emulator: Any, tg: FakeTelegram, delivered: dict[str, Any]
) -> None:
    """What the bot moved (the fake's own URL fetches from the emulator are not the bot's), and
    how each video went: uploaded, fetched by Telegram from its URL, or sent as a link."""
    result.bytes_downloaded = emulator.bytes_served - tg.bytes_fetched
    result.bytes_uploaded = tg.bytes_received
    for video in tg.videos():
        if str(video.params.get("video", "")).startswith("http"):
            result.by_url += 1
        else:
            result.uploads += 1
    result.url_refused = sum(
        1
        for call in tg.calls
        if not call.ok and call.method in ("sendVideo", "editMessageMedia") and _names_url(call)
    )
    result.links = len(delivered) - len(
        {_generation_id(v.params.get("caption")) for v in tg.videos()}
    )


def _names_url(call: Any) -> bool:
    media = call.params.get("media")
    value = media.get("media") if isinstance(media, dict) else call.params.get("video")
    return str(value or "").startswith("http")


def _quota_exact(database: Path, scenario: Scenario) -> bool | None:
    """Every user charged exactly what they asked for (all within the allowance), no refunds."""
    if not database.exists():
        return None
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT payer_id, COUNT(*) FROM generations "
            "WHERE charged_day IS NOT NULL AND refunded = 0 GROUP BY payer_id"
        ).fetchall()
    expected = Counter(10_000 + index % scenario.users for index in range(scenario.generations))
    return dict(rows) == dict(expected)
