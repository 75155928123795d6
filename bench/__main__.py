"""`python -m bench`: run the benchmark scenarios and write docs/benchmarks.md (+ .png).

python -m bench                 # the issue's targets: 1,000 generations at 10/s, 20-60 s
python -m bench --smoke         # a few generations in seconds (what the test suite runs)
python -m bench --only inflight # just the many-in-flight curve
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from pathlib import Path

from bench.report import write
from bench.scenario import Result, Scenario, run

MB = 1024 * 1024
SCENARIOS = {
    "target": Scenario(
        name="target: 1,000 generations at 10/s",
        generations=1000, rate=10, users=200, gen_min=20, gen_max=60,
    ),
    "legacy": Scenario(
        name="legacy family: 300 generations at 10/s",
        generations=300, rate=10, users=100, gen_min=20, gen_max=60, family="aiml-v1",
    ),
    "webhook": Scenario(
        name="webhook mode: 300 generations at 10/s",
        generations=300, rate=10, users=100, gen_min=20, gen_max=60, mode="webhook",
    ),
    # Arrivals just under Telegram's 30 messages/s: each /video is answered by a status
    # message, so no bot takes in more than 30 a second. Generations outlast the run, so in
    # flight only grows.
    "inflight": Scenario(
        name="in flight: 10,000 generations at once",
        generations=10_000, rate=28, users=2000, gen_min=900, gen_max=900,
        flood_limits=False, max_concurrent=12_000, max_connections=100, settle_timeout=45,
        kind="inflight", sample_every=2.0,
    ),
    # Issue 18: real-size videos. A burst of 100 finishing within a second, as uploads and by
    # URL; the target scenario with 5 MB videos; 4K results over the upload limit.
    "burst": Scenario(
        name="burst: 100 videos of 10 MB finishing at once",
        generations=100, rate=100, users=100, gen_min=20, gen_max=20, video_size=10 * MB,
        kind="burst", settle_timeout=120,
    ),
    "burst-url": Scenario(
        name="burst by URL: 100 videos of 10 MB finishing at once, DELIVER_BY_URL",
        generations=100, rate=100, users=100, gen_min=20, gen_max=20, video_size=10 * MB,
        kind="burst", settle_timeout=120, deliver_by_url=True,
    ),
    # The fallback: storage failing one download in ten (the bot's probes and Telegram's
    # fetches alike); what Telegram could not fetch is uploaded.
    "burst-url-faults": Scenario(
        name="burst by URL, storage failing 10% of downloads",
        generations=100, rate=100, users=100, gen_min=20, gen_max=20, video_size=10 * MB,
        kind="burst", settle_timeout=120, deliver_by_url=True, download_error_rate=0.1,
    ),
    "realsize": Scenario(
        name="real size: 1,000 generations of 5 MB at 10/s",
        generations=1000, rate=10, users=200, gen_min=20, gen_max=60, video_size=5 * MB,
        cpu_target_ms=30,
    ),
    "oversize": Scenario(
        name="oversize: 20 videos of 60 MB (4K), over the upload limit",
        generations=20, rate=10, users=20, gen_min=10, gen_max=10, video_size=60 * MB,
        kind="oversize", settle_timeout=120,
    ),
}  # fmt: skip
SMOKE = [
    Scenario(
        name="smoke", generations=6, rate=6, users=3, gen_min=0.2, gen_max=0.5,
        settle_timeout=30, sample_every=0.1,
    ),
    Scenario(
        name="smoke with 2 MB videos by URL", generations=4, rate=4, users=4, gen_min=0.2,
        gen_max=0.2, settle_timeout=30, sample_every=0.1, video_size=2 * MB,
        deliver_by_url=True, kind="burst",
    ),
]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a tiny run, for the test suite")
    parser.add_argument("--only", choices=sorted(SCENARIOS), action="append")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
    parser.add_argument("--profile", type=Path, help="run the bot under cProfile, stats here")
    parser.add_argument(
        "--bot-checkout",
        type=Path,
        help="run the bot from this checkout (e.g. a git worktree of an earlier commit)",
    )
    args = parser.parse_args(argv)
    scenarios = SMOKE if args.smoke else [SCENARIOS[name] for name in args.only or SCENARIOS]
    if args.profile:
        scenarios = [dataclasses.replace(s, profile=args.profile) for s in scenarios]
    if args.bot_checkout:
        root = args.bot_checkout.resolve()
        scenarios = [dataclasses.replace(s, bot_root=root) for s in scenarios]
    results: list[Result] = []
    for scenario in scenarios:
        print(f"running {scenario.name} ...", file=sys.stderr, flush=True)
        results.append(asyncio.run(run(scenario)))
    command = "python -m bench" + (" --smoke" if args.smoke else "")
    if args.only:
        command += "".join(f" --only {name}" for name in args.only)
    if args.bot_checkout:
        command += " --bot-checkout <an earlier checkout>"
    write(results, args.out, command)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
