"""`olive-lab chat`: ask the optimized ONNX model (one prompt, or a terminal chat) and run the golden check.

    olive-lab chat --prompt "Where to in Lisbon?" [--adapter NAME|base] [--json]
    olive-lab chat                        # a plain terminal chat: /quit, /adapter NAME, /reset
    olive-lab chat eval [--run ID [--branch B] | --model DIR] [--limit N] [--json]

Without --model or --run, the model the app's Chat screen opens: the newest run's that has one (a sweep: its best
branch's). The model is picked by engine.runs.models, as in the app.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.common import CliError, emit, lab_of
from cli.options import add_branch, add_run, add_seed
from engine.config import load_config
from engine.errors import OliveLabError

if TYPE_CHECKING:
    from engine.chat import ChatModel, ChatSession, SamplingOptions

HELP_LINE = "Commands: /adapter NAME (or base), /adapters, /reset, /save, /quit. Ctrl+C stops an answer."


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=["eval"], help="eval: the golden check on the held-back examples")
    parser.add_argument(
        "--model", help="a model, run or lab folder, or a run as --run takes it (default: the newest finished model)"
    )
    add_run(parser, "run id, unique prefix or 'latest' (default: the newest run with a model)")
    add_branch(parser, "a sweep's branch (default: its best; `runs show ID` lists them)")
    parser.add_argument("--adapter", help="adapter name, or 'base' for the model without adapter")
    parser.add_argument("--prompt", help="ask one question, print the answer and exit")
    parser.add_argument("--system", default="", help="system prompt")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="where to run")
    parser.add_argument("--max-length", type=int, help="most tokens in one answer")
    parser.add_argument("--temperature", type=float)
    parser.add_argument("--top-p", type=float)
    parser.add_argument("--top-k", type=int)
    parser.add_argument("--greedy", action="store_true", help="always take the likeliest token")
    add_seed(parser)
    parser.add_argument("--limit", type=int, help="eval: at most this many examples")
    parser.add_argument("--data", help="eval: a JSONL file of prompt/response records (default: the run's)")
    parser.set_defaults(handler=_run)


def _options(args: argparse.Namespace, base: SamplingOptions | None = None) -> SamplingOptions:
    from pydantic import ValidationError

    from engine.chat import SamplingOptions

    given = {
        "max_length": args.max_length,
        "temperature": args.temperature,
        "top_p": args.top_p,
        "top_k": args.top_k,
        "seed": args.seed,
    }
    values = (base or SamplingOptions()).model_dump()
    values.update({k: v for k, v in given.items() if v is not None})
    if args.greedy:
        values["greedy"] = True
    try:
        return SamplingOptions(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        flag = "--" + str(err["loc"][0]).replace("_", "-")
        raise CliError(f"{flag}: {err['msg']}") from exc


def _run(args: argparse.Namespace) -> int:
    from engine.chat import ChatError
    from engine.chat.models import AdapterError

    try:
        if args.action == "eval":
            return _eval(args)
        model = _load(args)
        if args.prompt is not None:
            return _one_prompt(args, model)
        return _terminal_chat(args, model)
    except AdapterError as exc:  # an adapter asked for that cannot be used: a failure, never a fallback to base
        raise CliError(exc.full(), code=1) from exc
    except ChatError as exc:
        raise CliError(exc.full()) from exc
    except CliError:
        raise
    except OliveLabError as exc:  # no such run, branch or model
        raise CliError(exc.message, hint=exc.hint) from exc


def model_folder(args: argparse.Namespace) -> Path:
    """The model folder to talk to, picked as the app's Chat screen picks it (engine.runs.models): a folder named
    with --model, else the run of --model or --run (a sweep: --branch, else its best), else the lab's default."""
    from engine.runs.models import chosen_model

    return chosen_model(lab_of(args), args.model, args.run, args.branch)


def _load(args: argparse.Namespace) -> ChatModel:
    from engine.chat import ChatModel, describe_model

    lab = lab_of(args)
    model = ChatModel(describe_model(model_folder(args)), lab=lab, device=args.device)
    if model.notice:
        print(f"olive-lab: {model.notice}", file=sys.stderr)
    for name, problem in model.problems.items():
        if name != args.adapter:  # the adapter asked for: its problem is the command's error
            print(f"olive-lab: {problem}", file=sys.stderr)
    return model


def _session(args: argparse.Namespace, model: ChatModel) -> ChatSession:
    from engine.chat import ChatSession

    session = ChatSession(model)
    session.set_system_prompt(args.system)
    session.set_options(_options(args))
    if args.adapter:
        session.set_adapter(args.adapter)
    return session


def _one_prompt(args: argparse.Namespace, model: ChatModel) -> int:
    session = _session(args, model)
    stream = session.ask(args.prompt)
    if getattr(args, "json", False):
        answer = stream.wait()
        emit(args, {"model": str(model.info.path), "device": model.device, **answer.model_dump()})
        return 0
    for text in stream:
        print(text, end="", flush=True)
    print()
    return 0


def _terminal_chat(args: argparse.Namespace, model: ChatModel) -> int:
    from engine.chat import ChatError, save_conversation

    session = _session(args, model)
    print(f"Chatting with {model.info.label} on {model.device}, adapter '{session.adapter}'.")
    print(HELP_LINE)
    while True:
        try:
            line = input(f"[{session.adapter}] > ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            break
        if not line:
            continue
        if line.startswith("/"):
            if _command(line, session, args) == "quit":
                break
            continue
        try:
            _stream_to_terminal(session, line)
            save_conversation(session.conversation, lab_of(args))
        except ChatError as exc:
            print(f"olive-lab: {exc}", file=sys.stderr)
    if session.conversation.turns:
        print(f"Chat saved in {save_conversation(session.conversation, lab_of(args))}")
    return 0


def _stream_to_terminal(session: ChatSession, line: str) -> None:
    cancel = threading.Event()
    stream = session.ask(line, cancel)
    try:
        for text in stream:
            print(text, end="", flush=True)
    except KeyboardInterrupt:
        cancel.set()
        for _ in stream:  # let the stream finish so the cancelled turn is recorded
            pass
    print()
    if stream.answer is not None:
        suffix = " (stopped)" if stream.answer.finish == "cancelled" else ""
        print(f"  [{stream.answer.stats.line()}]{suffix}")


def _command(line: str, session: ChatSession, args: argparse.Namespace) -> str | None:
    from engine.chat import ChatError, save_conversation

    name, _, rest = line.partition(" ")
    try:
        if name in ("/quit", "/exit", "/q"):
            return "quit"
        if name == "/adapter" and rest.strip():
            session.set_adapter(rest.strip())
            print(f"Adapter: {session.adapter}")
        elif name in ("/adapter", "/adapters"):
            print("Adapters: " + ", ".join(session.model.adapter_names) + f" (now: {session.adapter})")
        elif name == "/reset":
            session.reset()
            print("New conversation.")
        elif name == "/save":
            print(f"Saved in {save_conversation(session.conversation, lab_of(args))}")
        else:
            print(HELP_LINE)
    except ChatError as exc:
        print(f"olive-lab: {exc}", file=sys.stderr)
    return None


def _eval(args: argparse.Namespace) -> int:
    from engine.chat.golden import (
        GOLDEN_OPTIONS,
        VALIDATION_FILE,
        golden_table,
        read_records,
        run_golden,
        save_golden,
    )

    if args.limit is not None and args.limit < 1:
        raise CliError("--limit: must be at least 1")
    model = _load(args)
    run_dir = model.info.run_dir
    if args.data:
        data = Path(args.data)
    elif run_dir is not None:
        data = run_dir / VALIDATION_FILE
    else:
        raise CliError(f"{model.info.path} is not a run's output: name the evaluation records with --data FILE")

    ds = load_config(lab_of(args)).dataset
    records = read_records(data, (ds.prompt_field, ds.response_field), args.limit)
    options = _options(args, GOLDEN_OPTIONS).model_copy(update={"greedy": True})

    def progress(done: int, total: int) -> None:
        if not getattr(args, "json", False):
            print(f"\r  {done}/{total} examples", end="", file=sys.stderr, flush=True)

    report = run_golden(model, records, data=data, adapter=args.adapter, options=options, progress=progress)
    if not getattr(args, "json", False):
        print(file=sys.stderr)
    saved = save_golden(report, run_dir) if run_dir is not None else None
    payload: dict[str, Any] = {
        "saved": str(saved) if saved else None,
        **report.summary(),
        **report.model_dump(),
    }
    text = golden_table(report) + (f"\n\nSaved in {saved}" if saved else "")
    emit(args, payload, text)
    return 0
