"""The chat engine on the real demo model: streaming, cancel, adapters, base model, trimming, bad adapters."""

from __future__ import annotations

import json
import re
import shutil
import threading
from pathlib import Path

import pytest

from cli import main as cli_main
from engine.chat import (
    BASE_ADAPTER,
    ChatError,
    ChatModel,
    ChatSession,
    Conversation,
    SamplingOptions,
    export_conversation,
    find_models,
    load_conversation,
    save_conversation,
    to_jsonl,
    to_markdown,
)
from engine.chat.models import error_line
from engine.chat.runtime import cuda_flavour_installed
from engine.paths import LabPaths
from engine.runs.models import chosen_model, model_at
from tests.helpers import full_render_prompt

pytestmark = pytest.mark.pipeline

PROMPT = "What should I see in Lisbon?"
GREEDY = SamplingOptions(greedy=True, max_length=24)
LONG = SamplingOptions(greedy=True, max_length=64, min_length=64)


@pytest.fixture(scope="module")
def model_dir(demo_run: Path) -> Path:
    return demo_run / "optimize" / "output"


@pytest.fixture(scope="module")
def chat_lab(tmp_path_factory: pytest.TempPathFactory) -> LabPaths:
    return LabPaths.at(tmp_path_factory.mktemp("chat-lab"))


@pytest.fixture(scope="module")
def chat_model(model_dir: Path, chat_lab: LabPaths) -> ChatModel:
    return ChatModel(find_models(model_dir)[0], lab=chat_lab, device="cpu")


@pytest.fixture(scope="module")
def adapter(chat_model: ChatModel) -> str:
    names = [n for n in chat_model.adapter_names if n != BASE_ADAPTER]
    assert names, "the demo run's optimized model should come with its LoRA adapter"
    return names[0]


def test_models_are_found_from_a_run_a_lab_and_a_model_folder(demo_run: Path, model_dir: Path) -> None:
    for where in (model_dir, demo_run, demo_run.parent.parent):  # a lab holding one run
        info = find_models(where)[0]
        assert info.path == model_dir
        assert info.run_id == demo_run.name
        assert [a.path.name for a in info.adapters] == ["travel.onnx_adapter"]
    assert model_at(demo_run) == model_at(demo_run.parent.parent) == model_dir
    assert chosen_model(LabPaths.at(demo_run.parent.parent)) == model_dir


def test_an_answer_streams_in_pieces_with_its_timings(chat_model: ChatModel, adapter: str) -> None:
    stream = chat_model.stream(PROMPT, adapter=adapter, options=LONG)
    pieces = list(stream)
    answer = stream.answer
    assert answer is not None
    assert len(pieces) > 5
    assert "".join(pieces) == answer.text
    assert answer.stats.answer_tokens == 64 and answer.finish == "length"
    assert answer.stats.prompt_tokens > 5
    assert answer.stats.ttft_s is not None and 0 < answer.stats.ttft_s < answer.stats.total_s
    assert answer.stats.tokens_per_s and answer.stats.tokens_per_s > 0
    assert "tok/s" in answer.stats.line()


def test_cancel_stops_an_answer_midway(chat_model: ChatModel) -> None:
    cancel = threading.Event()
    stream = chat_model.stream(PROMPT, adapter=BASE_ADAPTER, options=LONG, cancel=cancel)
    for count, _ in enumerate(stream, start=1):
        if count == 3:
            cancel.set()
    assert stream.answer is not None
    assert stream.answer.finish == "cancelled"
    assert 3 <= stream.answer.stats.answer_tokens < 10


def test_greedy_answers_repeat_and_the_base_model_answers_differently(chat_model: ChatModel, adapter: str) -> None:
    base, tuned = chat_model.compare(PROMPT, BASE_ADAPTER, adapter, options=LONG)
    assert (base.adapter, tuned.adapter) == (BASE_ADAPTER, adapter)
    assert base.text != tuned.text
    assert chat_model.answer(PROMPT, adapter=adapter, options=LONG).text == tuned.text


def test_a_seed_makes_sampling_repeatable(chat_model: ChatModel, adapter: str) -> None:
    options = SamplingOptions(temperature=1.0, top_p=0.95, seed=7, max_length=32, min_length=32)
    first = chat_model.answer(PROMPT, adapter=adapter, options=options).text
    assert chat_model.answer(PROMPT, adapter=adapter, options=options).text == first


def test_switching_adapters_keeps_the_loaded_model(chat_model: ChatModel, adapter: str) -> None:
    session = ChatSession(chat_model)
    session.set_options(LONG)
    runtime = chat_model._model
    assert session.adapter == adapter  # the run's adapter is the default
    first = session.ask(PROMPT).wait()
    session.set_adapter(BASE_ADAPTER)
    second = session.ask(PROMPT).wait()
    assert (first.adapter, second.adapter) == (adapter, BASE_ADAPTER)
    assert chat_model._model is runtime
    assert [t.answer.adapter for t in session.conversation.turns if t.answer] == [adapter, BASE_ADAPTER]
    with pytest.raises(ChatError, match="no adapter named 'nope'"):
        session.set_adapter("nope")


def test_the_base_adapter_is_cached_in_the_lab_not_in_the_run(
    chat_model: ChatModel, chat_lab: LabPaths, model_dir: Path
) -> None:
    cached = list((chat_lab.private / "chat-base-adapters").glob("*.onnx_adapter"))
    assert len(cached) == 1
    assert sorted(p.name for p in model_dir.glob("*.onnx_adapter")) == ["travel.onnx_adapter"]


def test_a_long_conversation_drops_its_oldest_turns(chat_model: ChatModel) -> None:
    session = ChatSession(chat_model)
    session.set_system_prompt("You are a travel guide.")
    session.set_options(SamplingOptions(greedy=True, max_length=48, min_length=48))
    long_question = "Plan three days in Kyoto with museums, parks, food markets and night trains. " * 3
    answers = [session.ask(long_question).wait() for _ in range(8)]
    assert answers[0].stats.trimmed_turns == 0
    assert answers[-1].stats.trimmed_turns > 0
    for answer in answers:
        assert answer.stats.prompt_tokens + answer.stats.answer_tokens <= chat_model.context_length
    assert len(session.conversation.turns) == 8  # the saved conversation keeps everything


def test_each_turns_prompt_is_what_the_full_render_gave(chat_model: ChatModel) -> None:
    """Turn by turn through a chat that outgrows the context, the prompt (its tokens, answer room and turns left
    out) is the one the whole conversation templated and encoded again for each left-out turn gave."""
    options = SamplingOptions(greedy=True, max_length=48)
    history = [(f"Day {i}: what to see in Lisbon, Porto and Sintra? " * (1 + i % 3), f"See the castle {i}. " * 4)
               for i in range(40)]  # fmt: skip
    trimmed = 0
    for turn in range(len(history) + 1):
        prepared = chat_model.prepare("You are a travel guide.", history[:turn], "And after that?", options)
        expected = full_render_prompt(
            chat_model.format_prompt, chat_model._tokenizer.encode, "You are a travel guide.", history[:turn],
            "And after that?", chat_model.context_length, options.max_length,
        )  # fmt: skip
        assert (list(prepared.ids), prepared.budget, prepared.trimmed_turns) == expected, turn
        trimmed = max(trimmed, prepared.trimmed_turns)
    assert trimmed > 10  # the chat outgrew the context


def test_a_prompt_longer_than_the_context_is_refused_clearly(chat_model: ChatModel) -> None:
    with pytest.raises(ChatError, match=r"The prompt is \d+ tokens .* context holds"):
        chat_model.stream("Lisbon " * 3000)


def test_a_corrupt_adapter_gets_a_clear_message(chat_model: ChatModel, tmp_path: Path) -> None:
    corrupt = tmp_path / "broken.onnx_adapter"
    corrupt.write_bytes(b"not an adapter" * 50)
    with pytest.raises(ChatError, match="not a valid ONNX adapter file"):
        chat_model.load_adapter(corrupt, "broken")
    assert "broken" not in chat_model.adapter_names


def test_an_adapter_of_another_model_gets_a_clear_message(chat_model: ChatModel, tmp_path: Path) -> None:
    import onnxruntime as ort

    source = chat_model.adapter_paths[next(n for n in chat_model.adapter_names if n != BASE_ADAPTER)]
    params = ort.AdapterFormat.read_adapter(str(source)).get_parameters()
    other = ort.AdapterFormat()
    other.set_parameters({name.replace("layers", "blocks"): value for name, value in params.items()})
    path = tmp_path / "other.onnx_adapter"
    other.export_adapter(str(path))
    with pytest.raises(ChatError, match="does not fit the model"):
        chat_model.load_adapter(path, "other")


def test_a_broken_adapter_beside_the_model_does_not_stop_the_chat(model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    (copy / "zz_broken.onnx_adapter").write_bytes(b"garbage" * 20)
    model = ChatModel(find_models(copy)[0], lab=LabPaths.at(tmp_path / "lab"), device="cpu")
    assert "zz_broken" in model.problems and "not a valid ONNX adapter" in model.problems["zz_broken"]
    assert model.answer(PROMPT, adapter=BASE_ADAPTER, options=GREEDY).stats.answer_tokens > 0
    with pytest.raises(ChatError, match="not a valid ONNX adapter"):
        model.stream(PROMPT, adapter="zz_broken")


def test_regenerate_and_edit_replace_the_last_turn(chat_model: ChatModel) -> None:
    session = ChatSession(chat_model)
    session.set_options(GREEDY)
    session.ask("Is Rome nice in spring?").wait()
    session.regenerate().wait()
    assert [t.user for t in session.conversation.turns] == ["Is Rome nice in spring?"]
    session.edit_last("Is Rome nice in winter?").wait()
    assert [t.user for t in session.conversation.turns] == ["Is Rome nice in winter?"]


def test_conversations_save_load_and_export(chat_model: ChatModel, chat_lab: LabPaths, tmp_path: Path) -> None:
    session = ChatSession(chat_model)
    session.set_system_prompt("Be brief.")
    session.set_options(GREEDY)
    session.ask("Where can I find street food in Lisbon?").wait()
    saved = save_conversation(session.conversation, chat_lab)
    assert saved.parent == chat_lab.chats
    again = load_conversation(saved)
    assert again == session.conversation
    markdown = to_markdown(again)
    assert "## User" in markdown and "Where can I find street food in Lisbon?" in markdown and "tok/s" in markdown
    [record] = [json.loads(line) for line in to_jsonl(again).splitlines()]
    assert record["prompt"] == "Where can I find street food in Lisbon?"
    assert export_conversation(again, tmp_path / "chat.jsonl").read_text() == to_jsonl(again)
    bad = tmp_path / "bad.json"
    bad.write_text('{"turns": 3}')
    with pytest.raises(ChatError, match=r"bad\.json: not a saved chat"):
        load_conversation(bad)
    assert Conversation().title == "(empty chat)"


def test_sampling_options_refuse_bad_values() -> None:
    with pytest.raises(ValueError, match="temperature"):
        SamplingOptions(temperature=-1)
    assert SamplingOptions(greedy=True).search_options(10, 5) == {"max_length": 15, "do_sample": False}


@pytest.mark.skipif(cuda_flavour_installed(), reason="the CUDA flavour is installed here")
def test_asking_for_cuda_on_a_cpu_install_says_what_to_install(model_dir: Path, chat_lab: LabPaths) -> None:
    with pytest.raises(ChatError, match=r"CPU build of onnxruntime-genai.*onnxruntime-genai-cuda"):
        ChatModel(find_models(model_dir)[0], lab=chat_lab, device="cuda")


def test_cli_answers_one_prompt_as_json(demo_run: Path, chat_lab: LabPaths, capsys: pytest.CaptureFixture) -> None:
    argv = ["chat", "--lab", str(chat_lab.root), "--model", str(demo_run), "--prompt", PROMPT]
    assert cli_main([*argv, "--adapter", "base", "--greedy", "--max-length", "12", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["adapter"] == "base" and data["stats"]["answer_tokens"] <= 12 and "ttft_s" in data["stats"]
    assert cli_main([*argv, "--adapter", "nope"]) == 2
    assert "no adapter named 'nope'" in capsys.readouterr().err
    assert cli_main([*argv, "--temperature", "-2"]) == 2
    assert "--temperature" in capsys.readouterr().err


def test_cli_terminal_chat_takes_commands(
    demo_run: Path, chat_lab: LabPaths, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    lines = iter(["Is Rome nice?", "/adapter base", "Is Rome nice?", "/reset", "/quit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    argv = ["chat", "--lab", str(chat_lab.root), "--model", str(demo_run), "--max-length", "8"]
    assert cli_main(argv) == 0
    out = capsys.readouterr().out
    assert "Adapter: base" in out and "New conversation." in out and out.count("tok/s") == 2


# ---------------------------------------------------------------- adapters that do not fit, stray and corrupt


def foreign_adapter(source: Path, target: Path, part: str) -> Path:
    """The run's adapter as if made for a model twice as wide: `part` (lora_A or lora_B) doubled on its first
    axis. lora_A's first axis is fixed in the graph; lora_B's is open (named like the rank)."""
    import numpy as np
    import onnxruntime as ort

    params = ort.AdapterFormat.read_adapter(str(source)).get_parameters()
    wide = {}
    for name, value in params.items():
        array = value.numpy()
        if part in name:
            array = np.concatenate([array, array], axis=0)
        wide[name] = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(array))
    adapter = ort.AdapterFormat()
    adapter.set_adapter_version(1)
    adapter.set_model_version(1)
    adapter.set_parameters(wide)
    adapter.export_adapter(str(target))
    return target


@pytest.fixture(scope="module")
def stray_model(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo model folder with two foreign adapters that sort before the run's own one."""
    copy = tmp_path_factory.mktemp("stray") / "model"
    shutil.copytree(model_dir, copy)
    foreign_adapter(copy / "travel.onnx_adapter", copy / "aa_wide.onnx_adapter", "lora_A")
    foreign_adapter(copy / "travel.onnx_adapter", copy / "ab_open.onnx_adapter", "lora_B")
    return copy


def test_an_adapter_that_does_not_fit_is_named_with_both_shapes_and_skipped(stray_model: Path, tmp_path: Path) -> None:
    model = ChatModel(find_models(stray_model)[0], lab=LabPaths.at(tmp_path / "lab"), device="cpu")
    assert model.adapter_names == [BASE_ADAPTER, "travel"]
    wide = model.problems["aa_wide"]
    assert "does not fit the model" in wide
    assert re.search(r"has shape \[\d+, \d+, \d+\], the model takes \[\d+, \w+, \d+\]", wide), wide
    open_dim = model.problems["ab_open"]  # only a trial token finds this one; onnxruntime names both shapes
    assert re.search(r"expected to have shape \{[\d,]+\}, got \{[\d,]+\}", open_dim), open_dim
    assert "Please fix" not in open_dim
    base = model.answer(PROMPT, adapter=BASE_ADAPTER, options=GREEDY)
    tuned = model.answer(PROMPT, adapter="travel", options=GREEDY)
    assert base.stats.answer_tokens > 0 and tuned.stats.answer_tokens > 0
    assert ChatSession(model).adapter == "travel"
    with pytest.raises(ChatError, match="does not fit the model"):
        model.stream(PROMPT, adapter="aa_wide")


def test_a_foreign_adapters_error_keeps_its_cause() -> None:
    # onnxruntime-genai 0.14.1's message for a foreign adapter, as raised: the cause first, the advice last.
    raised = RuntimeError(
        "Got invalid dimensions for input: model.layers.0.attn.q_proj.lora_A.MatMul.weight_Q4 for the following "
        "indices\n index: 0 Got: 16 Expected: 8\n Please fix either the inputs/outputs or the model."
    )
    line = error_line(raised)
    assert "Got invalid dimensions for input: model.layers.0.attn.q_proj.lora_A" in line
    assert "index: 0 Got: 16 Expected: 8" in line and "\n" not in line
    placed = RuntimeError(
        "/onnxruntime_src/onnxruntime/core/framework/execution_frame.cc:171 "
        "onnxruntime::IExecutionFrame::GetOrCreateNodeOutputMLValue(int, int, const onnxruntime::TensorShape*, "
        "OrtValue*&, const onnxruntime::Node&) Shape mismatch attempting to re-use buffer. {1,13,0} != {1,13,64}"
    )
    assert error_line(placed) == "Shape mismatch attempting to re-use buffer. {1,13,0} != {1,13,64}"


def test_cli_chat_and_eval_work_beside_a_stray_adapter(
    stray_model: Path, demo_run: Path, chat_lab: LabPaths, capfd: pytest.CaptureFixture
) -> None:
    argv = ["chat", "--lab", str(chat_lab.root), "--model", str(stray_model)]
    assert cli_main([*argv, "--prompt", PROMPT, "--adapter", "base", "--greedy", "--max-length", "8"]) == 0
    err = capfd.readouterr().err
    assert "aa_wide.onnx_adapter: this adapter does not fit" in err
    assert "ab_open.onnx_adapter: this adapter does not fit" in err
    assert "[E:onnxruntime" not in err  # onnxruntime's own error log would cross the app's screen
    data = str(demo_run / "data" / "validation.jsonl")
    assert cli_main(["chat", "eval", *argv[1:], "--data", data, "--limit", "2", "--max-length", "8", "--json"]) == 0
    report = json.loads(capfd.readouterr().out)
    assert report["adapter"] == "travel" and len(report["rows"]) == 2


def test_cli_asking_for_a_corrupt_adapter_by_name_is_an_error(
    model_dir: Path, chat_lab: LabPaths, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    (copy / "zz_broken.onnx_adapter").write_bytes((copy / "travel.onnx_adapter").read_bytes()[:3000])
    argv = ["chat", "--lab", str(chat_lab.root), "--model", str(copy), "--prompt", PROMPT, "--max-length", "8"]
    assert cli_main([*argv, "--adapter", "zz_broken"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # no answer from the base model instead
    assert captured.err.count("zz_broken.onnx_adapter: not a valid ONNX adapter file") == 1
    assert cli_main([*argv, "--adapter", "base"]) == 0  # the broken file does not stop other answers
