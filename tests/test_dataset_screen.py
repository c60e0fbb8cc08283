"""The dataset screen driven with keys: bad lines are listed and jumped to, records render as trained."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Input, OptionList

from engine.paths import LabPaths
from tui.app import OliveLabApp
from tui.screens.dataset import DatasetScreen

GOOD = '{"prompt": "Where is Rome?", "response": "In Italy."}'


def write_lab(root: Path, lines: list[str]) -> Path:
    (root / "data.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "lab.toml").write_text('profile = "demo"\n[dataset]\npath = "data.jsonl"\n')
    return root


async def open_dataset(app: OliveLabApp, pilot) -> DatasetScreen:  # type: ignore[no-untyped-def]
    await pilot.press("2")
    await pilot.pause(0.2)
    await app.workers.wait_for_complete()
    await pilot.pause(0.2)
    assert isinstance(app.screen, DatasetScreen)
    return app.screen


async def test_bad_line_is_listed_and_enter_jumps_to_it(tmp_path: Path) -> None:
    lines = [GOOD] * 150 + ['{"prompt": "no answer"}'] + [GOOD] * 10
    app = OliveLabApp(LabPaths.at(write_lab(tmp_path, lines)), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_dataset(app, pilot)
        problems = screen.query_one("#ds-problems", OptionList)
        first = str(problems.get_option_at_index(0).prompt)
        assert first == "line 151, field 'response': missing"
        await pilot.press("e", "enter")
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        assert screen.start == 100
        assert screen.cursor_index == 150
        table = screen.query_one(DataTable)
        assert table.has_focus
        assert "missing" in str(table.get_row_at(table.cursor_row)[2])


async def test_records_render_through_the_template_with_eval_marks(tmp_path: Path) -> None:
    lines = [f'{{"prompt": "question {i}", "response": "answer {i}"}}' for i in range(20)]
    app = OliveLabApp(LabPaths.at(write_lab(tmp_path, lines)), checks=lambda lab, config: [])
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_dataset(app, pilot)
        table = screen.query_one(DataTable)
        assert table.row_count == 20
        assert str(table.get_row_at(0)[2]) == "<|user|>⏎question 0<|end|>⏎<|assistant|>⏎answer 0<|end|>"
        marks = [str(table.get_row_at(i)[1]) for i in range(20)]
        assert marks.count("eval") == 2  # 10 % of 20 records held back
        await pilot.press("v")
        await pilot.pause()
        record = str(screen.query_one("#ds-record-text").render())
        assert "<|user|>\nquestion 0<|end|>\n<|assistant|>\nanswer 0<|end|>" in record
        stats = str(screen.query_one("#ds-stats").render())
        assert "20 records, 0 bad lines" in stats


async def test_search_and_paging(tmp_path: Path) -> None:
    lines = [f'{{"prompt": "q{i}", "response": "a{i}"}}' for i in range(250)]
    lines[230] = '{"prompt": "where is the needle", "response": "here"}'
    app = OliveLabApp(LabPaths.at(write_lab(tmp_path, lines)), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_dataset(app, pilot)
        await pilot.press("n")
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.start == 100
        await pilot.press("slash", *"needle", "enter")
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        assert screen.cursor_index == 230


async def test_missing_file_says_so(tmp_path: Path) -> None:
    (tmp_path / "lab.toml").write_text('[dataset]\npath = "nowhere.jsonl"\n')
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_dataset(app, pilot)
        assert "nowhere.jsonl does not exist" in str(screen.query_one("#ds-status").render())


async def test_a_wrong_path_typed_after_o_says_so_and_keeps_the_file_shown(tmp_path: Path) -> None:
    app = OliveLabApp(LabPaths.at(write_lab(tmp_path, [GOOD] * 3)), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_dataset(app, pilot)
        await pilot.press("o", "ctrl+u", *"data.jsnl", "enter")
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        status = str(screen.query_one("#ds-status").render())
        assert "data.jsnl does not exist" in status and "still showing data.jsonl" in status, status
        assert screen.typed_path == "data.jsonl" and len(screen.rows) == 3
        assert screen.query_one(DataTable).row_count == 3 and screen.query_one(DataTable).has_focus
        assert screen.query_one("#ds-path", Input).value == "data.jsonl"


async def test_a_record_with_two_problems_is_listed_twice_without_crashing(tmp_path: Path) -> None:
    lines = [GOOD] * 5 + ['{"prompt": 42, "response": ["a", "b"]}'] + [GOOD] * 5
    app = OliveLabApp(LabPaths.at(write_lab(tmp_path, lines)), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_dataset(app, pilot)
        problems = screen.query_one("#ds-problems", OptionList)
        shown = [str(problems.get_option_at_index(i).prompt) for i in range(problems.option_count)]
        assert sum(text.startswith("line 6, field") for text in shown) == 2
        await pilot.press("e", "down", "enter")
        await pilot.pause(0.3)
        assert screen.cursor_index == 5


async def test_unset_field_names_do_not_crash_the_screen(tmp_path: Path) -> None:
    lines = [f'{{"question": "q{i}", "answer": "a{i}"}}' for i in range(8)]
    app = OliveLabApp(LabPaths.at(write_lab(tmp_path, lines)), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_dataset(app, pilot)
        assert app.is_running and screen.checked is not None
        assert screen.query_one("#ds-problems", OptionList).option_count >= 8


async def test_a_file_that_is_not_jsonl_says_so_first(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# A readme\n\nSome words.\n\n- a list\n- of things\n" * 5)
    (tmp_path / "lab.toml").write_text('profile = "demo"\n[dataset]\npath = "README.md"\n')
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_dataset(app, pilot)
        first = str(screen.query_one("#ds-problems", OptionList).get_option_at_index(0).prompt)
        assert first.startswith("This does not look like JSONL")


def word_tokenizer(folder: Path) -> None:
    """A whitespace tokenizer saved as tokenizer.json (one token per word), as a local model would have."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    folder.mkdir()
    tokenizer.save(str(folder / "tokenizer.json"))


async def test_duplicates_are_listed_and_long_records_counted_against_max_seq_len(tmp_path: Path) -> None:
    long = " ".join(["word"] * 40)
    lines = [
        GOOD,
        f'{{"prompt": "{long}", "response": "short"}}',
        GOOD,
        *[f'{{"prompt": "p{i}", "response": "r"}}' for i in range(7)],
    ]
    write_lab(tmp_path, lines)
    word_tokenizer(tmp_path / "model")
    (tmp_path / "lab.toml").write_text(
        'profile = "demo"\nmodel = "./model"\n[dataset]\npath = "data.jsonl"\n[finetune]\nmax_seq_len = 32\n'
    )
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_dataset(app, pilot)
        await pilot.pause(0.3)
        problems = screen.query_one("#ds-problems", OptionList)
        shown = [str(problems.get_option_at_index(i).prompt) for i in range(problems.option_count)]
        assert "line 3: repeats line 1 (duplicate)" in shown
        stats = str(screen.query_one("#ds-stats").render())
        assert "1 records (10%) over max_seq_len 32 tokens" in stats
        assert "tokens per record 0 " in stats


async def test_demo_profile_counts_tokens_with_the_demo_model_and_flags_a_long_record(
    tmp_path: Path, demo_model: Path
) -> None:
    long = "Pack light and check the train times before you go. " * 290  # about 15,000 characters
    lines = [
        GOOD,
        f'{{"prompt": "Plan my trip", "response": "{long}"}}',
        *[f'{{"prompt": "p{i}", "response": "r"}}' for i in range(8)],
    ]
    app = OliveLabApp(LabPaths.at(write_lab(tmp_path, lines)), checks=lambda lab, config: [])
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_dataset(app, pilot)
        await pilot.pause(0.3)
        stats = str(screen.query_one("#ds-stats").render())
        assert "no tokenizer" not in stats
        assert "tokens per record 0 " in stats
        assert "⚠ 1 records (10%) over max_seq_len 128 tokens: training cuts them" in stats


async def test_other_field_names_are_offered_from_the_problem_list(tmp_path: Path) -> None:
    from tui.screens.steps import StepsScreen

    lines = [f'{{"question": "q{i}", "answer": "a{i}"}}' for i in range(4)]
    app = OliveLabApp(LabPaths.at(write_lab(tmp_path, lines)), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_dataset(app, pilot)
        first = str(screen.query_one("#ds-problems", OptionList).get_option_at_index(0).prompt)
        assert 'set dataset.prompt_field = "question" and dataset.response_field = "answer"' in first
        await pilot.press("e", "enter")
        await pilot.pause(0.8)
        assert isinstance(app.screen, StepsScreen)
        assert app.screen.query_one("#field--dataset--prompt_field", Input).value == "question"


async def test_at_80_columns_the_response_shows_and_end_goes_to_the_last_record(tmp_path: Path) -> None:
    long_prompt = "How do I get from the airport to the old town, and is it worth buying a travel card"
    lines = [f'{{"prompt": "{long_prompt} {i}?", "response": "Take bus {i}."}}' for i in range(250)]
    app = OliveLabApp(LabPaths.at(write_lab(tmp_path, lines)), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_dataset(app, pilot)
        table = screen.query_one(DataTable)
        first = str(table.get_row_at(0)[2])
        assert first.startswith(long_prompt) and "⏵ Take bus 0." in first and "<|user|>" not in first
        await pilot.press("end")
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        assert screen.cursor_index == 249 and table.scroll_x == 0
        await pilot.press("home")
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        assert screen.cursor_index == 0


async def test_question_answer_records_are_called_json_and_the_header_names_their_fields(tmp_path: Path) -> None:
    """A question/answer set opened with the default field names is JSON lacking the configured fields (not
    "not JSONL"); once the fields are set, the 80-column header names them instead of 'prompt ⏵ response'."""
    from textual.widgets.data_table import ColumnKey

    lines = [f'{{"question": "q{i}", "answer": "a{i}"}}' for i in range(2)]
    app = OliveLabApp(LabPaths.at(write_lab(tmp_path, lines)), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_dataset(app, pilot)
        first = str(screen.query_one("#ds-problems", OptionList).get_option_at_index(0).prompt)
        assert first.startswith("2 of 2 lines are JSON objects, but none holds the configured fields")
        assert "they hold 'question', 'answer'" in first and "dataset.prompt_field" in first
        stats = str(screen.query_one("#ds-stats").render())
        assert "nothing to measure: no line holds 'prompt' and 'response' (see Problems)" in stats
    (tmp_path / "lab.toml").write_text(
        'profile = "demo"\n[dataset]\npath = "data.jsonl"\nprompt_field = "question"\nresponse_field = "answer"\n'
        '[finetune]\ntext_template = "{question} {answer}"\n'
    )
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_dataset(app, pilot)
        table = screen.query_one(DataTable)
        assert str(table.columns[ColumnKey("text")].label).startswith("question ⏵ answer")
        assert str(table.get_row_at(0)[2]) == "q0 ⏵ a0"


async def test_using_the_records_own_field_names_also_uses_the_file_viewed(tmp_path: Path) -> None:
    """Viewing a file other than the lab's dataset, "use the records' own field names" fills in that file too:
    saved, the settings name the file, its fields and a template that uses them, and its records check clean."""
    from engine.config import load_config
    from engine.data.records import check_dataset
    from tui.screens.steps import StepsScreen

    lines = [f'{{"question": "q{i}", "answer": "a{i}"}}' for i in range(4)]
    (tmp_path / "mine.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    lab = LabPaths.at(tmp_path)  # no lab.toml: the bundled set, whose records use prompt and response
    app = OliveLabApp(lab, checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_dataset(app, pilot)
        screen.query_one("#ds-path").focus()
        await pilot.press("ctrl+u", *"mine.jsonl", "enter")
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        first = str(screen.query_one("#ds-problems", OptionList).get_option_at_index(0).prompt)
        assert 'dataset.prompt_field = "question" and dataset.response_field = "answer"' in first
        await pilot.press("e", "enter")
        await pilot.pause(0.8)
        assert isinstance(app.screen, StepsScreen)
        assert app.screen.query_one("#field--dataset--path", Input).value == "mine.jsonl"
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
    config = load_config(lab)
    ds = config.dataset
    assert (ds.path, ds.prompt_field, ds.response_field) == ("mine.jsonl", "question", "answer")
    assert config.finetune.template_fields() == ["question", "answer"]
    assert check_dataset(lab.resolve(ds.path), (ds.prompt_field, ds.response_field)).ok
