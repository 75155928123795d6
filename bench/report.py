"""docs/benchmarks.md: every target with its measured value, and a PNG of the runs over time."""

from __future__ import annotations

import itertools
import math
import platform
from datetime import UTC, datetime
from pathlib import Path

from bench.scenario import Result, percentile
from bench.stitch import kept_section, replace_section


def _fmt(value: float, digits: int = 2) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def inflight_rows(result: Result) -> list[tuple[str, str, str, bool | None]]:
    s = result.scenario
    peak_in_flight, peak_connections = result.peak_in_flight, result.peak_connections
    return [
        (
            "generations in flight at once",
            f"{s.generations}",
            str(peak_in_flight),
            peak_in_flight >= s.generations,
        ),
        (
            "open connections to the API",
            f"≤ LUMA_MAX_CONNECTIONS = {s.max_connections}",
            str(peak_connections),
            peak_connections <= s.max_connections,
        ),
        ("bot peak RSS", "< 500 MB", f"{_fmt(result.peak_rss_mb, 0)} MB", result.peak_rss_mb < 500),
    ]


def _mb(value: float) -> str:
    return f"{_fmt(value / 2**20, 1)} MB"


def burst_rows(result: Result) -> list[tuple[str, str, str, bool | None]]:
    """Videos finishing at once (issue 18): memory must not grow with their size."""
    s = result.scenario
    delivery = percentile(result.completion_to_delivery, 0.99)
    moved = result.per_generation(result.bytes_moved)
    rows: list[tuple[str, str, str, bool | None]] = [
        ("lost jobs", "0", str(result.lost), result.lost == 0),
        ("duplicated jobs", "0", str(result.duplicated), result.duplicated == 0),
        ("bot peak RSS", "< 200 MB", f"{_fmt(result.peak_rss_mb, 0)} MB", result.peak_rss_mb < 200),
        ("completion → delivery p99", "reported", f"{_fmt(delivery)} s", None),
        ("bytes the bot moved per video", "reported", _mb(moved), None),
    ]
    if s.kind == "oversize":
        rows += [
            ("videos sent as a link", str(s.generations), str(result.links),
             result.links == s.generations),
            ("bytes the bot read per video", "≤ TELEGRAM_UPLOAD_LIMIT (50 MB)",
             _mb(result.per_generation(result.bytes_downloaded)),
             result.per_generation(result.bytes_downloaded) <= 50 * 2**20),
        ]  # fmt: skip
    return rows


def target_rows(result: Result) -> list[tuple[str, str, str, bool | None]]:
    """(what, target, measured, met) for the targets of issues 8 and 18."""
    s = result.scenario
    if s.kind == "inflight":
        return inflight_rows(result)
    if s.kind in ("burst", "oversize"):
        return burst_rows(result)
    rows: list[tuple[str, str, str, bool | None]] = [
        ("lost jobs", "0", str(result.lost), result.lost == 0),
        ("duplicated jobs", "0", str(result.duplicated), result.duplicated == 0),
        ("quota exact", "yes", str(result.quota_exact), result.quota_exact is True),
        ("Telegram 429s received", "0", str(result.telegram_429s), result.telegram_429s == 0),
    ]
    if s.family == "aiml-v2":
        allowance = result.per_generation(result.api_allowance)
        used = result.per_generation(result.api_requests)
        rows.append(
            (
                "video-API requests per generation",
                f"≤ 1 + ceil(T/30) = {_fmt(allowance)} (mean)",
                _fmt(used),
                used <= allowance,
            )
        )
    else:
        limit = result.per_generation(result.generation_seconds) / 5
        used = result.per_generation(result.api_requests)
        rows.append(
            (
                "video-API requests per generation",
                f"< T/5 s = {_fmt(limit)} (mean)",
                _fmt(used),
                used < limit,
            )
        )
    first = percentile(result.first_reply, 0.99)
    delivery = percentile(result.completion_to_delivery, 0.99)
    cpu_ms = result.per_generation(result.cpu_seconds) * 1000
    rows += [
        ("completion → delivery p99", "< 2 s", f"{_fmt(delivery)} s", delivery < 2),
        ("first reply p99", "< 1 s", f"{_fmt(first)} s", first < 1),
        ("bot peak RSS", "< 200 MB", f"{_fmt(result.peak_rss_mb, 0)} MB", result.peak_rss_mb < 200),
        (
            "bot CPU per generation",
            f"< {s.cpu_target_ms:g} ms",
            f"{_fmt(cpu_ms, 1)} ms",
            cpu_ms < s.cpu_target_ms,
        ),
    ]
    return rows


def _spread(values: list[float]) -> str:
    return " / ".join(f"{_fmt(percentile(values, q))} s" for q in (0.5, 0.99, 1.0))


def detail_rows(result: Result) -> list[tuple[str, str]]:
    per = result.per_generation
    peak_in_flight, peak_connections = result.peak_in_flight, result.peak_connections
    return [
        (
            "commands sent / jobs accepted / delivered",
            f"{result.sent} / {result.accepted} / {result.delivered}",
        ),
        ("first reply p50 / p99 / max", _spread(result.first_reply)),
        ("completion → delivery p50 / p99 / max", _spread(result.completion_to_delivery)),
        (
            "video-API requests / per generation",
            f"{result.api_requests} / {_fmt(per(result.api_requests))}",
        ),
        (
            "Telegram sends / edits per generation",
            f"{_fmt(per(result.telegram_sends))} / {_fmt(per(result.telegram_edits))}",
        ),
        (
            "peak RSS / CPU seconds",
            f"{_fmt(result.peak_rss_mb, 0)} MB / {_fmt(result.cpu_seconds)} s",
        ),
        ("peak in flight / peak connections to the API", f"{peak_in_flight} / {peak_connections}"),
        (
            "videos uploaded / fetched by Telegram from their URL / URLs refused / links",
            f"{result.uploads} / {result.by_url} / {result.url_refused} / {result.links}",
        ),
        (
            "bytes the bot downloaded / uploaded per video",
            f"{_mb(per(result.bytes_downloaded))} / {_mb(per(result.bytes_uploaded))}",
        ),
        ("wall time", f"{_fmt(result.wall_seconds, 0)} s"),
    ]


def plot(results: list[Result], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(results), 4, figsize=(20, 3.6 * len(results)), squeeze=False)
    for row, result in zip(axes, results, strict=True):
        samples = result.samples
        times = [x.at for x in samples]
        rates = [0.0] + [
            (b.api_requests - a.api_requests) / max(b.at - a.at, 1e-9)
            for a, b in itertools.pairwise(samples)
        ]
        title = result.scenario.name.split(":")[0]  # "target", "in flight", ...
        row[0].plot(times, [x.in_flight for x in samples], label="in flight")
        row[0].set_xlabel("seconds since the first command")
        # Connections on their own axis: a cap of 100 is invisible next to 10,000 in flight.
        connections = row[0].twinx()
        connections.plot(
            times, [x.connections for x in samples], color="tab:orange", label="API connections"
        )
        connections.set_ylim(bottom=0)
        row[0].set_title(f"{title}: in flight (blue), API connections (orange)", fontsize=10)
        row[1].plot(times, [x.rss_mb for x in samples])
        row[1].set_title(f"{title}: bot RSS (MB) over time", fontsize=10)
        row[1].set_xlabel("seconds since the first command")
        row[1].set_ylim(bottom=0)
        row[2].plot([x.in_flight for x in samples], [x.rss_mb for x in samples], ".")
        row[2].set_title(f"{title}: RSS (MB) vs in flight", fontsize=10)
        row[3].plot([x.in_flight for x in samples], rates, ".")
        row[3].set_title(f"{title}: API requests/s vs in flight", fontsize=10)
        for axis in row[2:]:
            axis.set_xlabel("generations in flight")
        for axis in row:
            axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def write(results: list[Result], out: Path, command: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    image = out.with_suffix(".png")
    plot(results, image)
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{platform.machine()}, {psutil_cpus()} CPUs, Python {platform.python_version()}. "
        "The bot runs as its own process (`python -m bot`); the video-API emulator and the fake "
        "Bot API (with Telegram's flood limits) run in the harness process. See bench/README.md.",
        "",
    ]
    for result in results:
        s = result.scenario
        lines += [
            f"## {s.name}",
            "",
            f"{s.generations} generations at {s.rate}/s from {s.users} users, generation times "
            f"uniform in {s.gen_min:g}–{s.gen_max:g} s, "
            + (f"{_mb(s.video_size)} videos, " if s.video_size else "9 KB videos, ")
            + ("delivered by URL (`DELIVER_BY_URL=true`), " if s.deliver_by_url else "")
            + (
                f"{s.download_error_rate:.0%} of downloads failing, "
                if s.download_error_rate
                else ""
            )
            + f"family `{s.family}`, {s.mode}, "
            f"`LUMA_MAX_CONNECTIONS={s.max_connections}`, "
            f"`MAX_CONCURRENT_GENERATIONS={s.max_concurrent}`"
            + ("" if s.flood_limits else ", Telegram flood limits off")
            + ".",
            "",
            "| measure | target | measured | met |",
            "|---|---|---|---|",
        ]
        for what, target, measured, met in target_rows(result):
            mark = "✅" if met else ("❌" if met is False else "–")
            lines.append(f"| {what} | {target} | {measured} | {mark} |")
        lines += ["", "| detail | value |", "|---|---|"]
        lines += [f"| {what} | {value} |" for what, value in detail_rows(result)]
        if result.notes:
            lines += ["", *[f"- {note}" for note in result.notes]]
        lines.append("")
    lines += [f"![runs over time]({image.name})", ""]
    document = "\n".join(lines)
    # The Stitching section is written by `python -m bench.stitch`: kept as it was.
    if out.exists() and (stitching := kept_section(out.read_text(encoding="utf-8"))):
        document = replace_section(document, stitching)
    out.write_text(document, encoding="utf-8")


def psutil_cpus() -> int:
    import psutil

    return psutil.cpu_count() or 0
