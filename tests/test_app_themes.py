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
            ratio = contrast(style.color.get_truecolor(), style.bgcolor.get_truecolor())
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


@pytest.mark.parametrize("theme", ["olive-dark", "olive-light", "olive-high-contrast"])
async def test_a_log_search_hit_stands_out_in_every_bundled_theme(tmp_path: Path, theme: str) -> None:
    from rich.style import Style

    from tui.widgets.log_view import LogView

    (tmp_path / "lab.toml").write_text(f'theme = "{theme}"\n', encoding="utf-8")
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(100, 30)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("4")
        await pilot.pause(0.3)
        style = Style.parse(app.screen.query_one(LogView)._styles["match"])
        assert style.color is not None and style.bgcolor is not None and not style.reverse
        ratio = contrast(style.color.get_truecolor(), style.bgcolor.get_truecolor())
        assert ratio >= 7.0, f"search hit in {theme}: {ratio:.1f}:1"


async def test_a_theme_picked_in_the_palette_is_kept_in_lab_toml(tmp_path: Path) -> None:
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("ctrl+p", *"theme", "enter")
        await pilot.pause(0.3)
        await pilot.press(*"olive-light", "enter")
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        assert app.theme == "olive-light"
    assert 'theme = "olive-light"' in (tmp_path / "lab.toml").read_text()
    again = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with again.run_test(size=(80, 24)) as pilot:
        await again.workers.wait_for_complete()
        await pilot.pause()
        assert again.theme == "olive-light"


async def test_the_help_screen_shows_the_remap_example_with_its_table(tmp_path: Path) -> None:
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause(0.3)
        text = str(app.screen.query_one("#help-text").render())
        assert '[keys] write "home.run" = "ctrl+r"' in text
