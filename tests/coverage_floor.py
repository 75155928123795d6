"""With `pytest --cov` (README: Run the tests): coverage of the bot, the emulator and the test
fakes, each on its own line, and a red run when the bot's branch coverage falls below the floor.

coverage.py's own `fail_under` counts lines and branches together over everything measured; the
floor here is on branches alone, of bot/ + handlers/ + storage/: the emulator (emulator/) is a
test double shipped beside the bot, not the bot itself.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

# Percent of the branches of bot/, handlers/ and storage/ the suite must take: below what it takes
# (93.2 % when set, both databases; timing-dependent paths move it by about half a point between
# runs); raise it as tests are added, never lower it.
BRANCH_FLOOR = 91.0

# (label, include, omit): paths relative to the repository root.
GROUPS = [
    ("bot/ + handlers/ + storage/", ["bot/*", "handlers/*", "storage/*"], []),
    ("emulator (emulator/)", ["emulator/*"], []),
    ("playground (playground/)", ["playground/*"], []),
    ("test fakes (tests/fakes/)", ["tests/fakes/*"], []),
]


def _totals(data_file: str, root: Path, include: list[str], omit: list[str]) -> dict[str, Any]:
    import coverage

    measured = coverage.Coverage(
        data_file=data_file, config_file=str(root / "pyproject.toml"), messages=False
    )
    measured.load()
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "coverage.json"
        measured.json_report(
            outfile=str(report),
            include=[str(root / pattern) for pattern in include],
            omit=[str(root / pattern) for pattern in omit],  # replaces [report] omit
        )
        return json.loads(report.read_text())["totals"]


def _percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 100.0


_REPORT = pytest.StashKey[list[str]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)  # outside pytest-cov's, so after it has combined
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    result = yield
    plugin = session.config.pluginmanager.getplugin("_cov")
    controller = getattr(plugin, "cov_controller", None)
    on_worker = hasattr(session.config, "workerinput")  # pytest-xdist: the controller reports
    if controller is None or on_worker or session.config.option.collectonly:
        return result
    report = session.config.stash[_REPORT] = []
    core_branches = 100.0
    for index, (label, include, omit) in enumerate(GROUPS):
        totals = _totals(controller.cov.config.data_file, session.config.rootpath, include, omit)
        branches = _percent(totals["covered_branches"], totals["num_branches"])
        lines = _percent(totals["covered_lines"], totals["num_statements"])
        report.append(
            f"{label:30} {branches:5.1f} % of {totals['num_branches']} branches, "
            f"{lines:5.1f} % of {totals['num_statements']} lines"
        )
        if index == 0:
            core_branches = branches
    if not os.environ.get("TEST_DATABASE_URL"):
        # The floor is set from a run on both databases; the SQLite half alone takes less.
        report.append(f"floor of {BRANCH_FLOOR} % not checked: set TEST_DATABASE_URL (as CI does)")
    elif core_branches < BRANCH_FLOOR:
        report.append(
            f"FAIL: branch coverage of the bot is {core_branches:.1f} %, "
            f"below the floor of {BRANCH_FLOOR} % (tests/coverage_floor.py)"
        )
        session.testsfailed += 1  # the run exits 1, as for a failed test
    return result


@pytest.hookimpl(trylast=True)  # after pytest-cov's table
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    report = config.stash.get(_REPORT, None)
    if report is None:
        return
    terminalreporter.write_sep("=", "coverage by part (python -m bot subprocesses included)")
    for line in report:
        terminalreporter.write_line(line, red=line.startswith("FAIL"), bold=line.startswith("FAIL"))
