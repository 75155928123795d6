"""The chat page's side panel on the video API emulator: what it shows (the generation time,
what is armed for the next generations, the last generations and API requests) and what its
controls do. The emulator is the in-process object, so nothing here goes over HTTP.
"""

from __future__ import annotations

from typing import Any

from emulator import Emulator, Generation, RecordedRequest, Script

# The generation time the panel can set, in seconds (queued + dreaming).
MIN_GENERATION_SECONDS = 0.5
MAX_GENERATION_SECONDS = 120.0
# The share of it spent queued; the rest is dreaming (the real service's states, in proportion).
QUEUE_SHARE = 0.25
# What a fresh playground starts with: fast enough to watch a whole video being made.
DEFAULT_TIMINGS = {"queue_seconds": 1.0, "dream_seconds": 3.0}
# The outcomes the panel can arm for the next generation.
OUTCOMES = {"moderation": Script.failing("moderation"), "stuck": Script(stuck=True)}
# The answers a create request can be made to fail with, and how many in a row at most.
FAULT_STATUSES = (500, 502, 503)
MAX_FAULTS = 10
RECENT_REQUESTS = 12
RECENT_GENERATIONS = 4


class PanelError(ValueError):
    """A control given a value it does not take; the message is shown as it is."""


def panel_view(emulator: Emulator) -> dict[str, Any]:
    """Everything the panel shows, as JSON."""
    config = emulator.config
    return {
        "generation_seconds": round(config.queue_seconds + config.dream_seconds, 2),
        "min_seconds": MIN_GENERATION_SECONDS,
        "max_seconds": MAX_GENERATION_SECONDS,
        "fault_statuses": list(FAULT_STATUSES),
        "scripts": [script.to_dict() for script in emulator.scripted],
        "faults": [
            {"status": fault.status, "count": fault.count}
            for fault in emulator.faults.pending
            if fault.route == "create" and fault.kind == "status"
        ],
        "generations": [_generation_view(g) for g in _recent_generations(emulator)],
        "requests": [_request_view(r) for r in emulator.requests[-RECENT_REQUESTS:]],
    }


def set_generation_seconds(emulator: Emulator, seconds: Any) -> None:
    """Queued plus dreaming take ``seconds`` from the next phase on (config is read per phase)."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise PanelError("seconds must be a number")
    if not MIN_GENERATION_SECONDS <= seconds <= MAX_GENERATION_SECONDS:
        raise PanelError(
            f"seconds must be between {MIN_GENERATION_SECONDS:g} and {MAX_GENERATION_SECONDS:g}"
        )
    emulator.config.queue_seconds = round(seconds * QUEUE_SHARE, 3)
    emulator.config.dream_seconds = round(seconds - emulator.config.queue_seconds, 3)


def arm_outcome(emulator: Emulator, outcome: Any) -> None:
    """The next generation fails moderation or gets stuck (never finishes)."""
    if not isinstance(outcome, str) or outcome not in OUTCOMES:
        raise PanelError(f"outcome must be one of {sorted(OUTCOMES)}")
    emulator.script_next(OUTCOMES[outcome])


def fail_creates(emulator: Emulator, status: Any, count: Any) -> None:
    """The next ``count`` create requests are answered ``status`` (the bot's retries count)."""
    if status not in FAULT_STATUSES or isinstance(status, bool):
        raise PanelError(f"status must be one of {list(FAULT_STATUSES)}")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_FAULTS:
        raise PanelError(f"count must be a whole number from 1 to {MAX_FAULTS}")
    emulator.inject_fault(route="create", status=status, count=count)


def disarm(emulator: Emulator) -> None:
    """Forget the armed outcomes and the create faults not used yet; nothing else is reset."""
    emulator.store.scripted.clear()
    emulator.faults.pending[:] = [
        fault
        for fault in emulator.faults.pending
        if not (fault.route == "create" and fault.kind == "status")
    ]


def _recent_generations(emulator: Emulator) -> list[Generation]:
    generations = list(emulator.generations.values())[-RECENT_GENERATIONS:]
    return list(reversed(generations))


def _generation_view(gen: Generation) -> dict[str, Any]:
    return {
        "id": gen.id,
        "state": gen.state.value,
        "prompt": gen.prompt[:120],
        "failure_reason": gen.failure_reason,
        "stuck": gen.script.stuck,
    }


def _request_view(request: RecordedRequest) -> dict[str, Any]:
    return {
        "method": request.method,
        "path": request.path,
        "kind": request.route.partition(".")[0] or "other",
        "status": request.status,
        "at": request.received_at,
        "answered": request.answered_at is not None,
    }
