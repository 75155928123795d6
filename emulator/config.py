"""Emulator settings. Mutable on purpose: tests retune timings between requests."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from emulator.assets import check_video_size

# The resolutions a request can name (every family that has the field).
RESOLUTIONS = ("540p", "720p", "1080p", "4k")
# The durations a request can name (the universal family's 5 and 9 count as "5s" and "9s").
DURATIONS = ("5s", "9s")
# Size units: decimal (MB = 10^6, as storage and Telegram's limits are quoted) and binary
# (MiB = 2^20). Case-insensitive; no unit means bytes.
_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
}
_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", re.IGNORECASE)


def parse_byte_size(text: str) -> int:
    """``"10MB"`` -> 10_000_000, ``"5MiB"`` -> 5_242_880, ``"1.5MB"``, ``"1234"`` (bytes).

    Raises ValueError for anything else (a fraction of a byte included)."""
    match = _SIZE_RE.fullmatch(text)
    unit = _UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        raise ValueError(
            f"not a size: {text!r} (a number of bytes, or with a unit: B, KB, MB, GB = 10^3.., "
            "KiB, MiB, GiB = 2^10..; e.g. 10MB, 5MiB, 1.5MB)"
        )
    value = Decimal(match.group(1)) * unit  # exact: 1.1MB is 1_100_000, not 1_100_000.0000002
    if value != int(value):
        raise ValueError(f"not a whole number of bytes: {text!r}")
    return int(value)


def parse_clip_seconds(text: str) -> dict[str, float]:
    """``"5s=2,9s=3"`` -> {"5s": 2.0, "9s": 3.0}; one may be left out (it keeps its default).

    Raises ValueError."""
    seconds: dict[str, float] = {}
    for item in text.split(","):
        duration, equals, value = item.strip().partition("=")
        if not equals or duration.strip() not in DURATIONS:
            raise ValueError(f"not DURATION=SECONDS with DURATION in {DURATIONS}: {item!r}")
        try:
            seconds[duration.strip()] = float(value)
        except ValueError:
            raise ValueError(f"not a number of seconds: {value!r}") from None
        if not seconds[duration.strip()] > 0:
            raise ValueError(f"seconds must be > 0: {item!r}")
    return seconds


def parse_video_sizes(text: str) -> tuple[int | None, dict[str, int]]:
    """``"10MB"``, ``"720p=5MB,4k=60MB"`` or both (``"10MB,4k=60MB"``) -> (video_size,
    video_sizes); the default is None when the text names none. Raises ValueError, also for a
    size the sample can't be padded to."""
    default: int | None = None
    sizes: dict[str, int] = {}
    for item in text.split(","):
        resolution, equals, size_text = item.strip().rpartition("=")
        size = parse_byte_size(size_text)
        check_video_size(size)
        if not equals:
            default = size
        elif resolution.strip().lower() in RESOLUTIONS:
            sizes[resolution.strip().lower()] = size
        else:
            raise ValueError(f"unknown resolution {resolution.strip()!r}: one of {RESOLUTIONS}")
    return default, sizes


@dataclass
class EmulatorConfig:
    """Knobs for the local video API emulator (contract doc §7)."""

    # None: any non-empty Bearer key is accepted.
    api_keys: frozenset[str] | None = None
    # Keys that authenticate but get 403 with AIML's out-of-credits message.
    no_credits_keys: frozenset[str] = frozenset()
    # queued -> dreaming (legacy: pending -> processing).
    queue_seconds: float = 2.0
    # dreaming -> completed | failed.
    dream_seconds: float = 8.0
    # When set, each generation dreams a time drawn uniformly from [dream_seconds,
    # dream_seconds_max] (seeded by error_seed), like real generations that vary (benchmarks).
    dream_seconds_max: float | None = None
    # How long an AIML v2 wait (`state=` / `status=`) is held before answering anyway.
    long_poll_seconds: float = 30.0
    # AIML's documented prompt cap (Luma itself allows 5000).
    max_prompt_length: int = 2048
    # Multi-fetch id cap; above it -> 400 (Suno analogue says 6; Luma's cap is unknown).
    max_batch: int = 6
    # Active (not terminal) generations per key; over it -> 429 on create.
    max_concurrent: int | None = None
    # Base for asset URLs; None derives scheme+host from each request.
    public_url: str | None = None
    # True: the wrong-named wait param (status on single, state on multi) is a 400, not ignored.
    strict_wait_params: bool = False
    # GET every image keyframe URL while queued, like Luma (§5.1); a failed fetch fails the
    # generation with "400: failed to moderate image". False: URLs are only checked to be URIs.
    fetch_images: bool = True
    # Deadline for one image fetch (connect, redirects and body).
    image_fetch_timeout: float = 10.0
    # Random errors on API requests (create and fetch), by status: {500: 0.2, 429: 0.05} answers
    # a fifth of them with 500 and one in twenty with 429 (Retry-After: 1). Seeded for repeatable
    # chaos runs.
    error_rates: dict[int, float] = field(default_factory=dict)
    # The same for result downloads (/files/): storage that fails now and then.
    download_error_rates: dict[int, float] = field(default_factory=dict)
    error_seed: int | None = None
    # Legacy family: fill the DTO's `estimate_wait_seconds` (seconds until the planned end)
    # while a generation runs. Upstream mostly sends null, so off by default.
    report_wait_estimate: bool = False
    # Luma callbacks (contract doc §4.6): a post without a 2xx answer is retried up to
    # callback_max_retries times, callback_retry_delay apart; each try gets callback_timeout.
    callback_retry_delay: float = 0.1
    callback_timeout: float = 5.0
    callback_max_retries: int = 3
    # How many times each state is posted (Luma: "the same state may be posted more than once").
    callback_repeats: int = 1
    # Lose every callback: recorded in emu.callbacks as dropped, never sent (see also
    # Emulator.drop_next_callbacks for one-shot losses).
    drop_callbacks: bool = False
    # Chat completions: the answer to an exact user message, instead of the deterministic one
    # (emulator/chat.py); "" answers an empty completion.
    chat_answers: dict[str, str] = field(default_factory=dict)
    # Luma `GET /credits` answer (USD cents).
    credit_balance: float = 100_000.0
    # Bytes of every served video: the sample (320x180, 2 s) padded to exactly this size with a
    # trailing `free` box, so it still probes. None: the sample as it is (about 9 KB). Sizes
    # below the sample's own are an error.
    video_size: int | None = None
    # Per requested resolution ("540p", "720p", "1080p", "4k"), e.g. {"720p": 5_000_000}: a
    # generation whose request names a listed resolution gets that size, others video_size.
    video_sizes: dict[str, int] = field(default_factory=dict)
    # /files/ honours a single `Range: bytes=...` (206, or 416 past the end). False: Range is
    # ignored and every download is a 200 with the whole file.
    download_ranges: bool = True
    # /files/ says the size (Content-Length). False: chunked transfer, no size up front, like
    # storage that doesn't tell.
    download_length: bool = True
    # Serve every generation its own real clip (emulator/clips.py: a solid colour per
    # generation, made with imageio-ffmpeg's FFmpeg) instead of the shared sample, so tests can
    # decode which video is which. Off: the sample, and FFmpeg is never run.
    clips: bool = False
    # Seconds of footage a request's duration ("5s", "9s") makes with clips on; the real 5 and
    # 9 s are scaled down so tests stay fast. A request without a duration counts as "5s".
    clip_seconds: dict[str, float] = field(default_factory=lambda: {"5s": 2.0, "9s": 3.0})
    clip_fps: int = 8
    # The long side of a clip in pixels (16:9 -> 320x180, 9:16 -> 180x320).
    clip_size: int = 320
    # With clips: an extension's video holds the video it extends (forward: the source, then
    # the new part; reverse: the new part, then the source), as we read Luma's docs. False: the
    # new part alone, so a client can be tested against both readings.
    extend_includes_source: bool = True

    def __post_init__(self) -> None:
        for name in ("queue_seconds", "dream_seconds", "long_poll_seconds", "callback_retry_delay"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("image_fetch_timeout", "callback_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.dream_seconds_max is not None and self.dream_seconds_max < self.dream_seconds:
            raise ValueError("dream_seconds_max must be >= dream_seconds")
        if self.callback_max_retries < 0:
            raise ValueError("callback_max_retries must be >= 0")
        if self.callback_repeats < 1:
            raise ValueError("callback_repeats must be >= 1")
        if self.max_prompt_length < 3:
            raise ValueError("max_prompt_length must be >= 3")
        for name in ("error_rates", "download_error_rates"):
            rates: dict[int, float] = getattr(self, name)
            if any(not 400 <= status <= 599 for status in rates):
                raise ValueError(f"{name} keys must be HTTP error statuses (400-599)")
            if any(rate < 0 for rate in rates.values()) or sum(rates.values()) > 1:
                raise ValueError(f"{name} must be >= 0 and add up to at most 1")
        if self.max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise ValueError("max_concurrent must be >= 1 or None")
        unknown = sorted(set(self.video_sizes) - set(RESOLUTIONS))
        if unknown:
            raise ValueError(f"video_sizes keys must be resolutions {RESOLUTIONS}, got {unknown}")
        for size in (self.video_size, *self.video_sizes.values()):
            if size is not None:
                check_video_size(size)
        if set(self.clip_seconds) != set(DURATIONS):
            raise ValueError(f"clip_seconds must name exactly {DURATIONS}")
        if any(not seconds > 0 for seconds in self.clip_seconds.values()):
            raise ValueError("clip_seconds must be > 0")
        if self.clip_fps < 1:
            raise ValueError("clip_fps must be >= 1")
        if self.clip_size < 16:
            raise ValueError("clip_size must be >= 16")
        # Accept any iterable of keys from callers, store frozensets.
        if self.api_keys is not None:
            self.api_keys = frozenset(self.api_keys)
        self.no_credits_keys = frozenset(self.no_credits_keys)

    def video_size_for(self, resolution: str | None) -> int | None:
        """The size of a video generated at ``resolution`` (None: the sample as it is)."""
        if resolution is not None and resolution in self.video_sizes:
            return self.video_sizes[resolution]
        return self.video_size
