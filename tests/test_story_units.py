"""/story's pure parts: reading the shots, what each shot asks the API for, what a story costs,
and which shots' videos make the stitched story."""

from __future__ import annotations

import pytest

from bot.domain.pricing import Prices
from bot.domain.specs import ParentVideo, Shot, StorySpec, TelegramImage
from bot.worker.story import MadeShot, parts_to_join
from handlers.parsing import ParseError, parse_story

pytestmark = pytest.mark.unit


def parse(raw: str, max_shots: int = 6) -> tuple[dict[str, object], list[tuple[str, bool]]]:
    story = parse_story(raw, max_prompt_length=2048, max_shots=max_shots)
    options = story.options.model_dump(exclude={"prompt"}, exclude_defaults=True)
    return options, [(shot.prompt, shot.cut) for shot in story.shots]


def test_shots_one_per_line_with_options_on_the_first() -> None:
    options, shots = parse(
        " --ar 9:16 --dur 9s\na paper boat on a puddle\nthe boat drifts into a stream\n"
        "the stream becomes a river at sunset"
    )
    assert options == {"aspect_ratio": "9:16", "duration_seconds": 9}
    assert shots == [
        ("a paper boat on a puddle", False),
        ("the boat drifts into a stream", False),
        ("the stream becomes a river at sunset", False),
    ]


def test_shots_on_one_line_and_cuts() -> None:
    _, shots = parse(" a red door | it opens slowly | --- | a garden at night")
    assert shots == [("a red door", False), ("it opens slowly", False), ("a garden at night", True)]
    # A phone's long dash is a cut too; one before the first shot, or doubled, means nothing.
    _, shots = parse("\n---\na cat sleeps\n\n——\n---\na dog barks\n")
    assert shots == [("a cat sleeps", False), ("a dog barks", True)]


def test_a_shot_may_name_its_camera_move_but_no_other_option() -> None:
    story = parse_story("\na fox --camera orbit_left\na hare", max_prompt_length=2048, max_shots=6)
    assert [shot.camera for shot in story.shots] == ["orbit_left", None]
    with pytest.raises(ParseError) as refused:
        parse("\na fox --ar 9:16")
    assert refused.value.key == "unknown_option"


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("", "story_usage"),
        (" --ar 9:16", "story_usage"),
        ("\n---\n", "story_usage"),
        (" --loop\na cat", "unknown_option"),
        ("\na cat\nb", "prompt_too_short"),
        ("\n" + "\n".join(f"shot number {n}" for n in range(7)), "story_too_many_shots"),
    ],
)
def test_bad_stories_are_refused(raw: str, key: str) -> None:
    with pytest.raises(ParseError) as refused:
        parse(raw)
    assert refused.value.key == key


def story(*shots: Shot, **options: object) -> StorySpec:
    return StorySpec.model_validate({"shots": shots, **options})


def test_each_shot_continues_the_one_before_unless_it_is_a_cut() -> None:
    photo = TelegramImage(file_id="AgAD")
    spec = story(Shot(prompt="a"), Shot(prompt="b"), Shot(prompt="c", cut=True), frame0=photo)
    before = ParentVideo(id="gen-1", job_id=11)
    first, second, third = (spec.shot_spec(i, before if i else None) for i in range(3))
    assert (first.frame0, first.kind) == (photo, "image")
    assert (second.frame0, second.parent_job_id, second.kind) == (before, 11, "extend")
    assert (third.frame0, third.parent_job_id, third.kind) == (None, None, "text")
    assert spec.prompt == "a | b | c"


def test_a_story_costs_what_its_shots_cost() -> None:
    prices = Prices(resolution={"1080p": 2})
    assert prices.cost(story(Shot(prompt="a"), Shot(prompt="b"))) == 2
    assert prices.cost(story(*(Shot(prompt=s) for s in "abc"), resolution="1080p")) == 6


def test_a_story_round_trips_through_its_params() -> None:
    spec = story(Shot(prompt="a", camera="push_in"), Shot(prompt="b", cut=True), model="ray-2")
    assert StorySpec.model_validate(spec.params()) == spec
    assert "resolution" not in spec.params() and "frame0" not in spec.params()


@pytest.mark.parametrize(
    ("shots", "needed"),
    [
        # Each extension holds the shot before (Luma's documented behaviour): the last only.
        ([(0, False, 5), (1, False, 10), (2, False, 15)], [2]),
        # Each extension is the new part only: every shot.
        ([(0, False, 5), (1, False, 5), (2, False, 5)], [0, 1, 2]),
        # Two encodings of one length differ by a frame: still the new part alone.
        ([(0, False, 5.0), (1, False, 5.04), (2, False, 5.08)], [0, 1, 2]),
        # A cut starts a new run: the last of each run.
        ([(0, False, 5), (1, False, 10), (2, True, 5), (3, False, 10)], [1, 3]),
        ([(0, False, 5), (1, True, 5)], [0, 1]),
        ([(0, False, 5)], [0]),
    ],
)
def test_the_parts_that_make_the_story(
    shots: list[tuple[int, bool, float]], needed: list[int]
) -> None:
    assert parts_to_join([MadeShot(*shot) for shot in shots]) == needed
