"""``python -m emulator``: run the video API emulator until Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence

from emulator.config import EmulatorConfig, parse_clip_seconds, parse_video_sizes
from emulator.luma_direct import PREFIX as LUMA_PREFIX
from emulator.server import run_emulator

log = logging.getLogger("emulator")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    defaults = EmulatorConfig()
    parser = argparse.ArgumentParser(
        prog="python -m emulator",
        description=(
            "Local emulator of the Luma video APIs: AIML v2, v1 legacy and universal, and Luma's "
            "own /dream-machine/v1 (no credits spent)."
        ),
        epilog=(
            "Results are served under /files/, streamed with Content-Length and single Range "
            "requests (206/416). Faults, also on downloads, are injected at run time with POST "
            "/_emulator/faults, e.g. a download that breaks mid-way: "
            '{"route": "download", "kind": "truncate", "after_bytes": 1000000}. '
            "emulator/README.md has the details."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument(
        "--api-key", action="append", default=[], help="accepted key (repeatable; default: any)"
    )
    parser.add_argument(
        "--no-credits-key", action="append", default=[], help="key answered with 403 (repeatable)"
    )
    parser.add_argument("--queue-seconds", type=float, default=defaults.queue_seconds)
    parser.add_argument("--dream-seconds", type=float, default=defaults.dream_seconds)
    parser.add_argument(
        "--dream-seconds-max",
        type=float,
        default=None,
        help="draw each generation's dreaming time uniformly from [--dream-seconds, this]",
    )
    parser.add_argument("--long-poll-seconds", type=float, default=defaults.long_poll_seconds)
    parser.add_argument("--max-concurrent", type=int, default=None)
    parser.add_argument("--public-url", default=None, help="base URL for asset links")
    parser.add_argument(
        "--strict-wait-params", action="store_true", help="400 on a wrong-named wait param"
    )
    parser.add_argument(
        "--no-fetch-images",
        dest="fetch_images",
        action="store_false",
        help="do not download image keyframe URLs (only check that they are URIs)",
    )
    parser.add_argument(
        "--error-rate",
        action="append",
        default=[],
        metavar="STATUS=RATE",
        help="answer this share of API requests with STATUS, e.g. 500=0.2 (repeatable)",
    )
    parser.add_argument(
        "--download-error-rate",
        action="append",
        default=[],
        metavar="STATUS=RATE",
        help="answer this share of result downloads (/files/) with STATUS, e.g. 503=0.1",
    )
    parser.add_argument(
        "--drop-callbacks",
        action="store_true",
        help="never send Luma callbacks (they are only recorded as dropped)",
    )
    parser.add_argument(
        "--callback-repeats",
        type=int,
        default=defaults.callback_repeats,
        help="post each Luma callback state this many times",
    )
    parser.add_argument(
        "--credit-balance",
        type=float,
        default=defaults.credit_balance,
        help="what Luma GET /credits answers",
    )
    parser.add_argument(
        "--video-size",
        action="append",
        default=[],
        type=_video_sizes,
        metavar="SIZE|RES=SIZE,...",
        help=(
            "serve real-size videos: the sample padded to exactly SIZE bytes with a trailing "
            "MP4 free box (it still probes as 320x180, 2 s). SIZE is bytes or has a unit: 10MB, "
            "1.5MB (MB = 10^6), 5MiB (MiB = 2^20), also KB/GB/KiB/GiB; at least the sample's "
            "size. RES=SIZE sizes one requested resolution (540p, 720p, 1080p, 4k), e.g. "
            "--video-size 10MB,720p=5MB,4k=60MB; other generations get the plain SIZE, or the "
            "9 KB sample without one (repeatable, later wins)"
        ),
    )
    parser.add_argument(
        "--no-download-ranges",
        dest="download_ranges",
        action="store_false",
        help="ignore Range headers on /files/ (always 200 with the whole file)",
    )
    parser.add_argument(
        "--no-download-length",
        dest="download_length",
        action="store_false",
        help="send /files/ without Content-Length (chunked), like storage that doesn't say",
    )
    parser.add_argument(
        "--clips",
        action="store_true",
        help=(
            "serve every generation its own real clip (a solid colour per generation: red, "
            "green, blue, ...; made with imageio-ffmpeg's FFmpeg) instead of the sample; "
            "an extension's clip holds its source's"
        ),
    )
    parser.add_argument(
        "--clip-seconds",
        type=_clip_seconds,
        default=None,
        metavar="5s=SECONDS,9s=SECONDS",
        help=(
            "with --clips, the seconds of footage each requested duration makes "
            f"(default {_durations(defaults.clip_seconds)})"
        ),
    )
    parser.add_argument(
        "--clip-fps", type=int, default=defaults.clip_fps, help="with --clips, frames a second"
    )
    parser.add_argument(
        "--clip-size",
        type=int,
        default=defaults.clip_size,
        help="with --clips, the long side of a clip in pixels (320: 16:9 is 320x180)",
    )
    parser.add_argument(
        "--extend-without-source",
        dest="extend_includes_source",
        action="store_false",
        help="with --clips, an extension's video is the new part alone, not source + new part",
    )
    return parser.parse_args(argv)


def _clip_seconds(text: str) -> dict[str, float]:
    try:
        return parse_clip_seconds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _durations(seconds: dict[str, float]) -> str:
    return ",".join(f"{duration}={value:g}" for duration, value in seconds.items())


def _video_sizes(text: str) -> tuple[int | None, dict[str, int]]:
    try:
        return parse_video_sizes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    video_size: int | None = None
    video_sizes: dict[str, int] = {}
    for default, sizes in args.video_size:
        video_size = video_size if default is None else default
        video_sizes.update(sizes)
    return EmulatorConfig(
        api_keys=frozenset(args.api_key) if args.api_key else None,
        no_credits_keys=frozenset(args.no_credits_key),
        queue_seconds=args.queue_seconds,
        dream_seconds=args.dream_seconds,
        dream_seconds_max=args.dream_seconds_max,
        long_poll_seconds=args.long_poll_seconds,
        max_concurrent=args.max_concurrent,
        public_url=args.public_url,
        strict_wait_params=args.strict_wait_params,
        fetch_images=args.fetch_images,
        drop_callbacks=args.drop_callbacks,
        callback_repeats=args.callback_repeats,
        credit_balance=args.credit_balance,
        error_rates=_rates(args.error_rate),
        download_error_rates=_rates(args.download_error_rate),
        video_size=video_size,
        video_sizes=video_sizes,
        download_ranges=args.download_ranges,
        download_length=args.download_length,
        clips=args.clips,
        clip_seconds={**EmulatorConfig().clip_seconds, **(args.clip_seconds or {})},
        clip_fps=args.clip_fps,
        clip_size=args.clip_size,
        extend_includes_source=args.extend_includes_source,
    )


async def serve(config: EmulatorConfig, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not available on Windows; Ctrl-C then surfaces as KeyboardInterrupt instead.
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with run_emulator(config, host=host, port=port) as emu:
        keys = "only the --api-key keys are accepted" if config.api_keys else "any API key works"
        log.info("Luma video API emulator ready: set LUMA_API_URL=%s (%s)", emu.url, keys)
        log.info("Luma direct API (lumaai SDK base_url): %s%s", emu.url, LUMA_PREFIX)
        await stop.wait()
        log.info("stopping")


def _rates(items: list[str]) -> dict[int, float]:
    return {int(status): float(rate) for status, _, rate in (i.partition("=") for i in items)}


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(serve(config_from_args(args), args.host, args.port))
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # typically: the port is already in use
        log.error("cannot listen on %s:%s: %s", args.host, args.port, exc)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
