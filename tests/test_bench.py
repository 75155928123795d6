"""The benchmark harness cannot rot: a tiny run of `python -m bench --smoke` on every CI run.

Nothing here asserts on timings (the machine is shared); only that the harness drives the real
bot to the end and writes its report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.stitch import kept_section, replace_section

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


def test_the_stitching_smoke_run_writes_its_section_and_keeps_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    out.write_text("# Benchmarks\n\n## target\n\nfigures\n", encoding="utf-8")
    for _run in range(2):  # the second run replaces the section rather than adding one
        finished = subprocess.run(
            [sys.executable, "-m", "bench.stitch", "--smoke", "--out", str(out)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert finished.returncode == 0, finished.stderr
    report = out.read_text(encoding="utf-8")
    assert report.startswith("# Benchmarks\n\n## target\n\nfigures\n\n## Stitching\n")
    assert report.count("## Stitching") == 1
    assert "| two 1 s clips alike | copy | 2 × 1 s," in report
    assert "| two 1 s clips, one of another profile | reencode | 2 × 1 s," in report


@pytest.mark.unit
def test_the_stitching_section_is_replaced_in_place_and_kept_by_the_main_report() -> None:
    section = "## Stitching\n\nnew\n"
    document = "# B\n\n## a\n\nx\n\n## Stitching\n\nold\n\n## c\n\ny\n"
    assert replace_section(document, section) == (
        "# B\n\n## a\n\nx\n\n## Stitching\n\nnew\n\n## c\n\ny\n"
    )
    assert replace_section("# B\n\n## a\n", section) == "# B\n\n## a\n\n" + section
    assert kept_section(document) == "## Stitching\n\nold\n"
    assert kept_section("# B\n\n## a\n") == ""
