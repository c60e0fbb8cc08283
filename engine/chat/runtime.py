"""The loaded model: onnxruntime-genai on CPU or CUDA, its adapters, and one streamed answer at a time.

One `og.Model` and one `og.Adapters` container serve every answer; switching adapters only creates a new
generator (onnxruntime-genai cannot deactivate an adapter on a live generator). onnxruntime-genai is
imported here lazily, when a model is loaded.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from engine.chat.models import (
    BASE_ADAPTER,
    AdapterError,
    ChatError,
    ModelInfo,
    base_adapter_cache,
    check_adapter_fits,
    error_line,
    graph_inputs,
    zero_adapter,
)
from engine.chat.prompt import PreparedPrompt, PromptBuilder, PromptTooLong, phi3_prompt
from engine.chat.types import Answer, AnswerStats, Device, Finish, SamplingOptions
from engine.gpu.nvml import NVML
from engine.paths import LabPaths

DEFAULT_CONTEXT = 2048


def cuda_flavour_installed() -> bool:
    from importlib import metadata

    try:
        metadata.version("onnxruntime-genai-cuda")
    except metadata.PackageNotFoundError:
        return False
    return True


def nvidia_gpu_present() -> bool:

    return NVML.status().available


def resolve_device(requested: Device) -> tuple[str, str | None]:
    """The device to load on and, where it differs from what was asked, why."""
    if requested == "cpu":
        return "cpu", None
    flavour, gpu = cuda_flavour_installed(), nvidia_gpu_present()
    if requested == "cuda" and not flavour:
        raise ChatError(
            "CUDA was asked for, but this environment has the CPU build of onnxruntime-genai. "
            "Install the CUDA flavour (pip install 'olive-lab[cuda]', which replaces onnxruntime-genai "
            "with onnxruntime-genai-cuda), or use --device cpu"
        )
    if flavour and gpu:
        return "cuda", None
    if flavour and not gpu:
        return "cpu", "onnxruntime-genai-cuda is installed but no NVIDIA GPU was found: answering on the CPU"
    return "cpu", None


class AnswerStream:
    """Iterate to receive the answer's text as it is generated; `answer` is set when iteration ends.

    Set `cancel` (a threading.Event) from any thread to stop after the current token.
    """

    def __init__(self, run: Callable[[AnswerStream], Iterator[str]], cancel: threading.Event) -> None:
        self._run = run
        self.cancel = cancel
        self.answer: Answer | None = None
        self._listeners: list[Callable[[Answer], None]] = []

    def on_done(self, callback: Callable[[Answer], None]) -> None:
        self._listeners.append(callback)

    def __iter__(self) -> Iterator[str]:
        yield from self._run(self)
        if self.answer is not None:
            for callback in self._listeners:
                callback(self.answer)

    def wait(self) -> Answer:
        """Run to the end (or the cancel) and return the answer."""
        for _ in self:
            pass
        assert self.answer is not None
        return self.answer


class ChatModel:
    """An optimized ONNX model loaded for chat, with its adapters and the all-zero "base" adapter."""

    def __init__(self, info: ModelInfo, *, lab: LabPaths, device: Device = "auto") -> None:
        import onnxruntime_genai as og

        self._og = og
        self.info = info
        self.lab = lab
        self.device, self.notice = resolve_device(device)
        self._model = self._load(og)
        self._tokenizer = og.Tokenizer(self._model)
        self._eos = {int(t) for t in self._tokenizer.eos_token_ids}
        self._adapters = og.Adapters(self._model)
        self._graph_inputs = graph_inputs(info.path)
        self.context_length = info.context_length or DEFAULT_CONTEXT
        self._prompts = PromptBuilder(self.format_prompt, self._tokenizer.encode)
        self.adapter_paths: dict[str, Path] = {}
        self.problems: dict[str, str] = {}
        self.lock = threading.Lock()
        """Held while an answer is generated: one answer at a time (the chat and a golden check share a model)."""
        self._base_loaded = False
        for adapter in info.adapters:  # one that cannot be used is skipped, named in `problems`
            try:
                self.load_adapter(adapter.path, adapter.name)
            except ChatError as exc:
                self.problems[adapter.name] = str(exc)

    def _load(self, og: Any) -> Any:
        try:
            return og.Model(self._config(og, self.device))
        except Exception as exc:
            if self.device == "cpu":
                raise ChatError(f"{self.info.path}: the model cannot be loaded ({error_line(exc)})") from exc
            self.notice = f"Could not load on CUDA ({error_line(exc)}): answering on the CPU"
            self.device = "cpu"
            return self._load(og)

    def _config(self, og: Any, device: str) -> Any:
        config = og.Config(str(self.info.path))
        # onnxruntime would also print its errors straight to stderr, across the app's screen; they reach
        # the user as ChatError messages instead.
        config.overlay(json.dumps({"model": {"decoder": {"session_options": {"log_severity_level": 4}}}}))
        config.clear_providers()
        if device == "cuda":
            config.append_provider("cuda")
        return config

    # --- adapters ----------------------------------------------------------------------------------

    @property
    def adapter_names(self) -> list[str]:
        return [BASE_ADAPTER, *self.adapter_paths]

    def load_adapter(self, path: Path, name: str) -> str:
        """Load an `.onnx_adapter` file under `name`; the model is not reloaded.

        An adapter that does not fit the model is refused here, before any answer uses it: its parameters
        are checked against the graph's inputs, then one token is run through the model with it (shapes
        the graph leaves open, like the LoRA rank, can only be checked that way). So a stray or foreign
        adapter never becomes the pattern of the all-zero "base" adapter, and never breaks an answer."""
        if name == BASE_ADAPTER:
            raise ChatError(f"'{BASE_ADAPTER}' is reserved for the model without adapter")
        if name in self.adapter_paths:
            raise ChatError(f"an adapter named '{name}' is already loaded")
        check_adapter_fits(path, self._graph_inputs, self.info.path)
        try:
            self._adapters.load(str(path), name)
        except Exception as exc:
            raise AdapterError(f"{path}: the adapter cannot be loaded ({error_line(exc)})") from exc
        try:
            self._try_adapter(name)
        except Exception as exc:
            self._adapters.unload(name)
            cause = error_line(exc).rstrip(".")
            raise AdapterError(
                f"{path}: this adapter does not fit the model in {self.info.path}: {cause}. "
                "Use the adapter exported by the same run as the model."
            ) from exc
        self.adapter_paths[name] = path
        if not self._base_loaded:
            base = zero_adapter(path, base_adapter_cache(self.lab))
            self._adapters.load(str(base), BASE_ADAPTER)
            self._base_loaded = True
        return name

    def _try_adapter(self, name: str) -> None:
        """Run one token through the model with adapter `name` active; raises what onnxruntime raises."""
        og = self._og
        with self.lock:
            params = og.GeneratorParams(self._model)
            params.set_search_options(max_length=2)
            generator = og.Generator(self._model, params)
            try:
                generator.set_active_adapter(self._adapters, name)
                generator.append_tokens([min(self._eos) if self._eos else 0])
            finally:
                del generator

    def check_adapter(self, name: str) -> None:
        if name == BASE_ADAPTER or name in self.adapter_paths:
            return
        if name in self.problems:
            raise AdapterError(self.problems[name])
        raise ChatError(f"no adapter named '{name}' (loaded: {', '.join(self.adapter_names)})")

    # --- prompts -----------------------------------------------------------------------------------

    def format_prompt(self, messages: Sequence[dict[str, str]]) -> str:
        try:
            return str(self._tokenizer.apply_chat_template(json.dumps(list(messages)), add_generation_prompt=True))
        except Exception:
            return phi3_prompt(messages)

    def prepare(
        self, system: str, history: Sequence[tuple[str, str]], prompt: str, options: SamplingOptions
    ) -> PreparedPrompt:
        """Template and encode; leave out the oldest turns until the prompt and some answer fit the context
        (engine.chat.prompt: a turn costs the size of the context, not of the conversation)."""
        try:
            return self._prompts.prepare(
                system, history, prompt, context=self.context_length, max_length=options.max_length
            )
        except PromptTooLong as exc:
            raise ChatError(
                f"The prompt is {exc.tokens} tokens (system prompt included) but the model's context holds "
                f"{exc.context}: shorten the prompt or the system prompt"
            ) from None

    # --- answers -----------------------------------------------------------------------------------

    def stream(
        self,
        prompt: str,
        *,
        system: str = "",
        history: Sequence[tuple[str, str]] = (),
        adapter: str = BASE_ADAPTER,
        options: SamplingOptions | None = None,
        cancel: threading.Event | None = None,
    ) -> AnswerStream:
        """Start one answer. Raises ChatError at once for an unknown adapter or a prompt that cannot fit."""
        started = time.perf_counter()
        options = options or SamplingOptions()
        self.check_adapter(adapter)
        prepared = self.prepare(system, history, prompt, options)
        prepare_s = time.perf_counter() - started
        return AnswerStream(
            lambda s: self._generate(s, prepared, adapter, options, prepare_s), cancel or threading.Event()
        )

    def answer(self, prompt: str, **kwargs: Any) -> Answer:
        return self.stream(prompt, **kwargs).wait()

    def _generate(
        self,
        stream: AnswerStream,
        prepared: PreparedPrompt,
        adapter: str,
        options: SamplingOptions,
        prepare_s: float,
    ) -> Iterator[str]:
        """Generate; timings count the prompt's preparation plus the time from the first `next()`."""
        started = time.perf_counter() - prepare_s
        with self.lock:
            yield from self._decode(stream, prepared, adapter, options, started)

    def _decode(
        self,
        stream: AnswerStream,
        prepared: PreparedPrompt,
        adapter: str,
        options: SamplingOptions,
        started: float,
    ) -> Iterator[str]:
        og = self._og
        pieces: list[str] = []
        first: float | None = None
        count = 0
        finish: Finish = "length"
        cancel = stream.cancel
        params = og.GeneratorParams(self._model)
        params.set_search_options(**options.search_options(len(prepared.ids), prepared.budget))
        generator = og.Generator(self._model, params)
        try:
            if self._base_loaded:
                generator.set_active_adapter(self._adapters, adapter)
            if cancel.is_set():
                finish = "cancelled"
            else:
                generator.append_tokens(prepared.ids)
            decoder = self._tokenizer.create_stream()
            eos = self._eos
            while finish != "cancelled" and not generator.is_done():
                if cancel.is_set():
                    finish = "cancelled"
                    break
                generator.generate_next_token()
                token = int(generator.get_next_tokens()[0])
                if first is None:
                    first = time.perf_counter()
                if token in eos:
                    finish = "stop"
                    break
                count += 1
                text = decoder.decode(token)
                if text:
                    pieces.append(text)
                    yield text
        except ChatError:
            raise
        except Exception as exc:
            raise ChatError(f"generation failed with adapter '{adapter}': {error_line(exc)}") from exc
        finally:
            del generator
        ended = time.perf_counter()
        rate = (count - 1) / (ended - first) if first is not None and count > 1 and ended > first else None
        stream.answer = Answer(
            text="".join(pieces),
            adapter=adapter,
            finish=finish,
            stats=AnswerStats(
                prompt_tokens=len(prepared.ids),
                answer_tokens=count,
                ttft_s=None if first is None else first - started,
                total_s=ended - started,
                tokens_per_s=rate,
                trimmed_turns=prepared.trimmed_turns,
            ),
        )

    def compare(
        self, prompt: str, a: str, b: str, *, system: str = "", options: SamplingOptions | None = None
    ) -> tuple[Answer, Answer]:
        """One prompt answered with two adapters (or `base` and an adapter), same settings, one after the other."""
        first = self.answer(prompt, system=system, adapter=a, options=options)
        second = self.answer(prompt, system=system, adapter=b, options=options)
        return first, second
