"""The benchmark harness cannot rot: a tiny run of `python -m bench --smoke` on every CI run.

Nothing here asserts on timings (the machine is shared); only that the harness drives the real
bot to the end and writes its report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_the_smoke_run_delivers_everything_and_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    finished = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert finished.returncode == 0, finished.stderr
    report = out.read_text(encoding="utf-8")
    assert "| lost jobs | 0 | 0 | ✅ |" in report
    assert "| duplicated jobs | 0 | 0 | ✅ |" in report
    assert "| quota exact | yes | True | ✅ |" in report
    for measure in ("first reply p99", "completion → delivery p99", "bot peak RSS"):
        assert f"| {measure} |" in report
    assert "commands sent / jobs accepted / delivered | 6 / 6 / 6" in report
    image = out.with_suffix(".png")
    assert image.read_bytes().startswith(b"\x89PNG")
