"""The /video argument parser: options anywhere, phone dashes, bare ratios, every bad input."""

from __future__ import annotations

import pytest

from handlers.parsing import ParseError, parse_video_args

pytestmark = pytest.mark.unit


def parse(raw: str, limit: int = 2048):
    return parse_video_args(raw, max_prompt_length=limit)


@pytest.mark.parametrize(
    ("raw", "prompt", "ratio", "loop"),
    [
        ("a jellyfish in space", "a jellyfish in space", None, False),
        ("--ar 9:16 a cat surfing", "a cat surfing", "9:16", False),
        ("a cat surfing --ar 21:9", "a cat surfing", "21:9", False),
        ("a cat --ar=4:3 surfing", "a cat surfing", "4:3", False),
        ("9:16 a cat surfing --loop", "a cat surfing", "9:16", True),
        ("a cat surfing 1:1", "a cat surfing", "1:1", False),
        ("\u2014ar 3:4 a dog", "a dog", "3:4", False),  # em dash from a phone keyboard
        ("\u2013loop a dog", "a dog", None, True),  # en dash
        ("a dog \u2014LOOP", "a dog", None, True),
        ("line one\nline  two --loop", "line one\nline two", None, True),
        ("meet at 10:30", "meet at 10:30", None, False),  # a time is not a ratio
        ("a -- b", "a -- b", None, False),
        ("a 9:16 b", "a 9:16 b", None, False),  # bare ratios only at the edges
    ],
)
def test_valid_prompts(raw: str, prompt: str, ratio: str | None, loop: bool) -> None:
    options = parse(raw)
    assert (options.prompt, options.aspect_ratio, options.loop) == (prompt, ratio, loop)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("", "usage"),
        ("   ", "usage"),
        ("--loop", "usage"),
        ("9:16", "usage"),
        ("ab", "prompt_too_short"),
        ("--ar 19:9 a dog", "invalid_ratio"),
        ("--ar=16:10 a dog", "invalid_ratio"),
        ("--ar", "option_needs_value"),
        ("a dog --ar --loop", "option_needs_value"),
        ("--fps 30 a dog", "unknown_option"),
        ("--loop=yes a dog", "option_takes_no_value"),
        ("--ar 9:16 a dog 16:9", "conflicting_ratios"),
    ],
)
def test_bad_input_names_the_problem(raw: str, key: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(raw)
    assert caught.value.key == key


def test_unknown_option_is_named() -> None:
    with pytest.raises(ParseError) as caught:
        parse("a dog \u2014fps 30")
    assert caught.value.values == {
        "option": "--fps",
        "valid": "--ar, --loop, --end, --model, --res, --dur, --camera, --enhance",
    }


@pytest.mark.parametrize(
    ("raw", "model", "resolution", "duration"),
    [
        ("a dog --model ray-flash-2", "ray-flash-2", None, None),
        ("a dog --model=luma/ray-2", "ray-2", None, None),
        ("a dog —model flash --res 4K", "ray-flash-2", "4k", None),
        ("--res 720 a dog --dur 9s", None, "720p", 9),
        ("a dog --dur 5", None, None, 5),
        ("a dog --dur=9sec", None, None, 9),
    ],
)
def test_model_resolution_and_duration_options(
    raw: str, model: str | None, resolution: str | None, duration: int | None
) -> None:
    options = parse(raw)
    assert options.prompt == "a dog"
    assert (options.model, options.resolution, options.duration_seconds) == (
        model,
        resolution,
        duration,
    )


@pytest.mark.parametrize(
    ("raw", "key", "valid"),
    [
        ("a dog --model ray-3", "invalid_model", "ray-2, ray-flash-2"),
        ("a dog --res 8k", "invalid_resolution", "540p, 720p, 1080p, 4k"),
        ("a dog --dur 7s", "invalid_duration", "5s, 9s"),
        ("a dog --dur long", "invalid_duration", "5s, 9s"),
    ],
)
def test_bad_option_values_say_what_is_valid(raw: str, key: str, valid: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(raw)
    assert caught.value.key == key
    assert caught.value.values["valid"] == valid


def test_each_command_has_its_own_options() -> None:
    from handlers.parsing import EXTEND_OPTIONS

    options = parse_video_args(
        "go on --reverse --loop", max_prompt_length=2048, allowed=EXTEND_OPTIONS
    )
    assert (options.reverse, options.loop, options.end) == (True, True, False)
    with pytest.raises(ParseError) as caught:
        parse("go on --reverse")
    assert caught.value.key == "unknown_option"
    with pytest.raises(ParseError):
        parse_video_args("go on --end", max_prompt_length=2048, allowed=EXTEND_OPTIONS)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "0f3ea4aa-10e7-4dae-af0b-263ab4ac45f9 more waves",
            ("0f3ea4aa-10e7-4dae-af0b-263ab4ac45f9", "more waves"),
        ),
        (
            "7c880e75-1111-2222-3333-444455556666:luma/ray-2 go",
            ("7c880e75-1111-2222-3333-444455556666:luma/ray-2", "go"),
        ),
        ("more waves please", (None, "more waves please")),
        ("0f3ea4aa more", (None, "0f3ea4aa more")),
    ],
)
def test_generation_ids_lead_an_extend(raw: str, expected: tuple) -> None:
    from handlers.parsing import split_generation_id

    assert split_generation_id(raw) == expected


def test_prompt_limit_counts_the_prompt_not_the_options() -> None:
    assert parse("x" * 2048 + " --ar 9:16").prompt == "x" * 2048
    with pytest.raises(ParseError) as caught:
        parse("x" * 2049)
    assert caught.value.values == {"length": 2049, "limit": 2048}


@pytest.mark.parametrize(
    "raw",
    [
        "\u200b\u200b\u200b",  # zero-width spaces
        "\u200c\u200d\u2060\ufeff",  # non-joiner, joiner, word joiner, BOM
        "\u202a\u202b\u202c\u202d\u202e",  # bidi embeddings and overrides
        "\u2066\u2067\u2068\u2069\u200e\u200f\u061c",  # bidi isolates and marks
        "\u00ad\u034f\ufe0f\U000e0041",  # soft hyphen, grapheme joiner, selector, tag
        "\u3164\u115f\uffa0",  # Hangul fillers
        "\u2800\u2800\u2800",  # braille blanks
        "ab\u200b\u200b",  # two visible characters
        "\u200ba\u200bb\u200b --loop",
    ],
)
def test_invisible_characters_do_not_make_a_prompt_long_enough(raw: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(raw)
    assert caught.value.key == "prompt_too_short"


def test_visible_prompts_keep_their_invisible_characters() -> None:
    # Joiners build emoji and bidi marks order mixed-script text: the prompt is sent as typed.
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert parse(f"a {family} walks").prompt == f"a {family} walks"
    hebrew = "\u2067\u05e9\u05dc\u05d5\u05dd\u2069"  # "shalom" in a right-to-left isolate
    assert parse(hebrew).prompt == hebrew
    assert parse("\u2600\ufe0f\u2600\ufe0f\u2600\ufe0f").prompt  # three suns are enough


def test_prompt_limit_counts_utf16_code_units_like_the_api() -> None:
    clapper = "\U0001f3ac"  # outside the BMP: two UTF-16 code units
    assert parse(clapper * 1024).prompt == clapper * 1024
    with pytest.raises(ParseError) as caught:
        parse(clapper * 1025)
    assert caught.value.values == {"length": 2050, "limit": 2048}
    assert parse("é" * 2048).prompt == "é" * 2048  # one unit each


def test_durations_are_ascii_digits() -> None:
    with pytest.raises(ParseError) as caught:
        parse("a cat --dur \u0669s")  # Arabic-Indic nine
    assert caught.value.key == "invalid_duration"
