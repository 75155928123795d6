"""Pictures of the gallery Mini App for the README, in Telegram's light and dark themes:

    .venv/bin/python -m tests.gallery_screenshots docs/

saves docs/gallery-light.png and docs/gallery-dark.png, a phone's screen (390x844 CSS pixels
at device scale 2). The setup is the browser test's (tests/test_gallery_browser.py): the real
bot with PUBLIC_URL, the fake Bot API and the emulator, a few videos made through the chat, and
Debian's Chromium under Playwright opening the page as Telegram would.

The emulator's videos are all the same test card, so before the page is opened each video
Telegram holds is given a small clip of its own (a gradient, a sun, hills: drawn here from the
prompt's palette), from which the fake Bot API makes its thumbnail as Telegram would.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import imageio_ffmpeg
from PIL import Image, ImageDraw, ImageFilter

from bot.app import build_application
from bot.config import load_settings
from emulator import EmulatorConfig, run_emulator
from playground.fake_telegram import DARK_THEME, LIGHT_THEME, FakeTelegram
from tests.browser import chromium
from tests.conftest import API_KEY, BOT_TOKEN, FAST_EMULATOR, RunningBot, free_port
from tests.test_gallery_browser import PHONE, gallery_url
from tests.test_history import USER, make_videos

GROUP = -100555
# Oldest first (the page shows the newest first): prompt, and the clip's sky, glow and hills.
VIDEOS = [
    ("a paper boat drifting on a calm lake at noon", ("#8fd3f4", "#d8f1ff", "#fff7c2", "#3b8d6e")),
    (
        "Рыжий кот на крыше смотрит на закат",
        ("#2b1055", "#d53a9d", "#ffd36e", "#1c0f2e"),
    ),
    ("aurora over snowy mountains, timelapse", ("#04142b", "#0d3b4f", "#7dffb2", "#dfe8f2")),
    (
        "a lighthouse in a storm, waves crashing against the rocks, slow dolly in, 35 mm film",
        ("#232b36", "#56677a", "#f6e7a8", "#0f1720"),
    ),
    (
        "neon koi fish swimming through a rainy Tokyo alley",
        ("#120b2e", "#3a1c71", "#ff5fa2", "#0b0820"),
    ),
    (
        "a glass whale drifting over a sleeping city at dawn",
        ("#1e3c72", "#f7a072", "#ffe3a3", "#223150"),
    ),
]
GROUP_VIDEO = 3  # the index in VIDEOS made in the group, so the filter has a group chip


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _blend(a: tuple[int, ...], b: tuple[int, ...], t: float) -> tuple[int, ...]:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))


def scene(palette: tuple[str, str, str, str], size: tuple[int, int] = (640, 360)) -> Image.Image:
    """A still for a clip: a sky from the first colour to the second, a glowing sun or moon of
    the third, and two rows of hills of the fourth."""
    sky_top, sky_bottom, glow, land = (_rgb(c) for c in palette)
    width, height = size
    picture = Image.new("RGB", size)
    draw = ImageDraw.Draw(picture)
    for y in range(height):
        draw.line([(0, y), (width, y)], fill=_blend(sky_top, sky_bottom, y / height))
    halo = Image.new("L", size, 0)
    ImageDraw.Draw(halo).ellipse(
        (width * 0.52, height * 0.12, width * 0.82, height * 0.65), fill=200
    )
    picture.paste(glow, mask=halo.filter(ImageFilter.GaussianBlur(40)))
    ImageDraw.Draw(picture).ellipse(
        (width * 0.59, height * 0.24, width * 0.75, height * 0.53), fill=glow
    )
    draw = ImageDraw.Draw(picture)
    for row, (base, amplitude, shade) in enumerate(((0.70, 0.07, 0.55), (0.80, 0.05, 1.0))):
        colour = _blend(sky_bottom, land, shade)
        points = [
            (x, height * base + height * amplitude * math.sin(x / width * (5 + 3 * row) + row))
            for x in range(0, width + 8, 8)
        ]
        draw.polygon([(0, height), *points, (width, height)], fill=colour)
    return picture


def clip(palette: tuple[str, str, str, str], folder: Path) -> bytes:
    """Two seconds of `scene(palette)` as an H.264 MP4, made with imageio-ffmpeg's FFmpeg."""
    still = folder / "still.png"
    video = folder / "clip.mp4"
    scene(palette).save(still)
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-loop", "1"]
    command += ["-i", str(still), "-t", "2", "-r", "8", "-vf", "scale=320:180"]
    command += ["-pix_fmt", "yuv420p", "-c:v", "libx264", "-movflags", "+faststart", str(video)]
    subprocess.run(command, check=True)
    return video.read_bytes()


async def make_gallery(tg: FakeTelegram, bot: Any, folder: Path) -> None:
    """The videos of VIDEOS, each with its own clip in Telegram's hands."""
    for index, (prompt, _) in enumerate(VIDEOS):
        where: dict[str, Any] = {"user_id": USER}
        if index == GROUP_VIDEO:
            where.update(chat_id=GROUP, chat_type="group", chat_title="Film club")
            where["command"] = "/video@LumaTestBot"
        await make_videos(bot, tg, prompt, **where)
    entries, _ = await bot.runtime.repository.history(USER, chat_id=None, offset=0, limit=99)
    palettes = dict(VIDEOS)
    for entry in entries:
        stored = tg.file(entry.video_file_id)
        assert stored is not None
        stored.data = await asyncio.to_thread(clip, palettes[entry.prompt], folder)
        stored.size = len(stored.data)


async def shoot(page: Any, path: Path) -> None:
    """Wait until every tile's picture has loaded, then save the screen."""
    await page.wait_for_function(
        """() => {
            const tiles = document.querySelectorAll('[data-testid=video-tile]');
            const images = [...document.querySelectorAll('.media img')];
            return tiles.length > 0 && images.every(i => i.complete && i.naturalWidth > 0);
        }"""
    )
    await page.wait_for_timeout(300)  # the skeleton's fade and the fonts
    await page.screenshot(path=str(path))


async def main(out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="gallery-screenshots-") as temporary:
        folder = Path(temporary)
        async with (
            FakeTelegram(token=BOT_TOKEN, bot_username="LumaTestBot") as tg,
            run_emulator(EmulatorConfig(**FAST_EMULATOR), port=0) as emulator,
        ):
            port = free_port()
            settings = load_settings(
                _env_file=None,
                telegram_bot_token=BOT_TOKEN,
                telegram_api_url=tg.root,
                luma_api_key=API_KEY,
                luma_api_url=emulator.url,
                database_url=f"sqlite:///{folder / 'bot.sqlite3'}",
                daily_quota=0,
                max_active_per_user=10,
                luma_long_poll_seconds=0.5,
                progress_interval=0.2,
                telegram_private_chat_burst=0,
                port=port,
                public_url=f"http://127.0.0.1:{port}",
            )
            bot = await RunningBot(build_application(settings)).start()
            try:
                await make_gallery(tg, bot, folder)
                async with chromium() as browser:
                    for name, theme in (("light", LIGHT_THEME), ("dark", DARK_THEME)):
                        context = await browser.new_context(viewport=PHONE, device_scale_factor=2)
                        page = await context.new_page()
                        await page.goto(gallery_url(tg, bot, theme))
                        await shoot(page, out / f"gallery-{name}.png")
                        await context.close()
                        print(out / f"gallery-{name}.png")
            finally:
                await bot.stop()


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    folder.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(folder))
