"""`python -m bench.stitch`: what stitching a story's shots costs (bot/worker/stitch.py, issue 20).

    python -m bench.stitch          # the "Stitching" section of docs/benchmarks.md (minutes)
    python -m bench.stitch --smoke --out /tmp/b.md   # two tiny clips (the suite runs this)

Six clips of a story, made by the same ffmpeg (`testsrc2`, moving and detailed enough to cost
an encoder something; each clip a different hue), joined by copying (all alike) and by
re-encoding (the last clip encoded with another H.264 profile, so none can be copied). Each
stitch runs in a fresh Python process whose only child is ffmpeg, so that process's
`getrusage(RUSAGE_CHILDREN)` is exactly ffmpeg's peak RSS and CPU time; the wall time is
`stitch()`'s, as the bot would see it. The median of three runs is reported (peak RSS: the
largest). Figures depend on the machine; tests never assert on them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import imageio_ffmpeg

from bot.worker.stitch import stitch

SECTION = "## Stitching"
RUNS = 3


@dataclass(frozen=True)
class Case:
    name: str
    size: str  # WxH
    seconds: float
    clips: int = 6
    odd_last: bool = False  # the last clip with another profile: everything is re-encoded


CASES = [
    Case("six 5 s 720p clips alike", "1280x720", 5),
    Case("six 5 s 720p clips, one of another profile", "1280x720", 5, odd_last=True),
    Case("six 9 s 720p clips alike", "1280x720", 9),
    Case("six 9 s 720p clips, one of another profile", "1280x720", 9, odd_last=True),
    Case("six 9 s 1080p clips, one of another profile", "1920x1080", 9, odd_last=True),
]
SMOKE = [
    Case("two 1 s clips alike", "160x120", 1, clips=2),
    Case("two 1 s clips, one of another profile", "160x120", 1, clips=2, odd_last=True),
]


def make_clips(case: Case, folder: Path) -> list[Path]:
    """The case's clips, encoded as a video service's would be (H.264 high, yuv420p, 24 fps)."""
    clips = []
    for index in range(case.clips):
        path = folder / f"clip-{index}.mp4"
        profile = "main" if case.odd_last and index == case.clips - 1 else "high"
        source = f"testsrc2=size={case.size}:rate=24:duration={case.seconds}"
        subprocess.run(
            [
                *(imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error"),
                *("-f", "lavfi", "-i", source, "-vf", f"hue=h={index * 60}"),
                *("-c:v", "libx264", "-profile:v", profile, "-pix_fmt", "yuv420p"),
                *("-movflags", "+faststart", "-y", str(path)),
            ],
            check=True,
        )
        clips.append(path)
    return clips


def measure_once(parts: list[Path], out: Path) -> dict[str, object]:
    """One stitch, in this process (started for it alone): its method, wall time, and ffmpeg's
    peak RSS and CPU seconds."""
    started = time.perf_counter()
    result = asyncio.run(stitch(parts, out))
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "method": str(result.method),
        "wall": wall,
        "rss_mb": usage.ru_maxrss / 1024,  # kilobytes on Linux
        "cpu": usage.ru_utime + usage.ru_stime,
        "size": result.size,
    }


def measure(parts: list[Path], out: Path) -> dict[str, object]:
    # The binary named, so that imageio-ffmpeg does not run `ffmpeg -version` first to find
    # it: ffmpeg is then the process's only child.
    environment = {**os.environ, "IMAGEIO_FFMPEG_EXE": imageio_ffmpeg.get_ffmpeg_exe()}
    finished = subprocess.run(
        [sys.executable, "-m", "bench.stitch", "--measure", str(out), *map(str, parts)],
        check=True,
        capture_output=True,
        text=True,
        env=environment,
    )
    figures: dict[str, object] = json.loads(finished.stdout)
    return figures


def run_case(case: Case) -> str:
    """The case's table row."""
    with tempfile.TemporaryDirectory(prefix="bench-stitch-") as work:
        folder = Path(work)
        parts = make_clips(case, folder)
        runs = [measure(parts, folder / f"story-{run}.mp4") for run in range(RUNS)]
        inputs = sum(part.stat().st_size for part in parts)
    walls = [float(str(run["wall"])) for run in runs]
    cpus = [float(str(run["cpu"])) for run in runs]
    rss = max(float(str(run["rss_mb"])) for run in runs)
    output = int(str(runs[0]["size"]))
    return (
        f"| {case.name} | {runs[0]['method']} | {case.clips} × {case.seconds:g} s, "
        f"{inputs / 2**20:.1f} MB | {output / 2**20:.1f} MB | {statistics.median(walls):.2f} s "
        f"| {statistics.median(cpus):.2f} s | {rss:.0f} MB |"
    )


def section(rows: list[str], command: str) -> str:
    lines = [
        SECTION,
        "",
        f"Written by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{platform.machine()}, {_cpus()} CPUs, ffmpeg {imageio_ffmpeg.get_ffmpeg_version()} "
        "(imageio-ffmpeg). Joining a story's shots into one MP4 (`bot/worker/stitch.py`): "
        "ffmpeg runs as a child process of the bot, so its memory and CPU time are its own; "
        f"the median of {RUNS} runs, peak RSS the largest. Clips are `testsrc2` at 24 fps, "
        "H.264 high profile; in the re-encoded cases the last clip is main profile, so no "
        "part can be copied. See bench/stitch.py.",
        "",
        "Copying reads and writes packets only: a fraction of a second and little memory "
        "whatever the length. Re-encoding decodes and encodes every frame, at a lower CPU "
        "priority than the bot's (`nice` +10, as in the bot; its wall time grows when the "
        "machine is busy), and holds x264's lookahead plus a decoder for every part at once "
        "(the concat filter opens all inputs), so its memory grows with the picture size.",
        "",
        "| case | method | parts | output | wall time | ffmpeg CPU | ffmpeg peak RSS |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    return "\n".join(lines)


def replace_section(document: str, new: str) -> str:
    """`document` with its Stitching section (up to the next `## ` heading or the end)
    replaced by `new`, or `new` appended."""
    start = document.find(f"\n{SECTION}\n")
    if start < 0:
        return document.rstrip("\n") + "\n\n" + new
    end = document.find("\n## ", start + 1)
    rest = document[end + 1 :] if end >= 0 else ""
    return document[: start + 1] + new + ("\n" + rest if rest else "")


def kept_section(document: str) -> str:
    """The Stitching section of `document` ('' if none): `python -m bench` keeps it when it
    rewrites the rest."""
    start = document.find(f"\n{SECTION}\n")
    if start < 0:
        return ""
    end = document.find("\n## ", start + 1)
    return document[start + 1 : end if end >= 0 else len(document)].rstrip("\n") + "\n"


def _cpus() -> int:
    import psutil

    return psutil.cpu_count() or 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stitch", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="two tiny clips, for the suite")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
    parser.add_argument("--measure", nargs="+", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:  # one stitch, in a process of its own: OUT PART...
        out, *parts = map(Path, args.measure)
        print(json.dumps(measure_once(parts, out)))
        return 0
    rows = []
    for case in SMOKE if args.smoke else CASES:
        print(f"stitching {case.name} ...", file=sys.stderr, flush=True)
        rows.append(run_case(case))
    command = "python -m bench.stitch" + (" --smoke" if args.smoke else "")
    document = args.out.read_text(encoding="utf-8") if args.out.exists() else "# Benchmarks\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(replace_section(document, section(rows, command)), encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
