"""Every bundled theme keeps the app's words readable: text on each screen contrasts at least 3:1 (WCAG)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.paths import LabPaths
from tui.app import OliveLabApp

MIN_CONTRAST = 3.0
SCREENS = "123456"


def _luminance(rgb: tuple[int, int, int]) -> float:
    def channel(value: int) -> float:
        v = value / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = rgb
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def faint_words(app: OliveLabApp) -> dict[str, float]:
    """Text (not borders or bars) drawn below MIN_CONTRAST against its background."""
    found: dict[str, float] = {}
    for strip in app.screen._compositor.render_strips():
        for segment in strip:
            style = segment.style
            text = segment.text.strip()
            if not any(ch.isalnum() for ch in text) or style is None or not style.color or not style.bgcolor:
                continue
            ratio = contrast(tuple(style.color.get_truecolor()), tuple(style.bgcolor.get_truecolor()))
            if ratio < MIN_CONTRAST:
                found[text[:40]] = round(ratio, 2)
    return found


@pytest.mark.parametrize("theme", ["olive-dark", "olive-light", "olive-high-contrast"])
async def test_text_is_readable_in_every_bundled_theme(tmp_path: Path, theme: str) -> None:
    (tmp_path / "lab.toml").write_text(f'theme = "{theme}"\n', encoding="utf-8")
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(100, 30)) as pilot:
        await app.workers.wait_for_complete()
        assert app.theme == theme
        problems = {}
        for key in SCREENS:
            await pilot.press(key)
            await pilot.pause(0.3)
            faint = faint_words(app)
            if faint:
                problems[app.current_mode] = faint
        assert not problems, f"hard to read in {theme}: {problems}"
