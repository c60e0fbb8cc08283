"""What the monitor's "now" panel and pinned line say about a run: pure functions of the run's state and
digest, so they can be tested without a screen.

The loss figures come from the same events as the chart (`RunDigest`), so the text and the legend agree.
"""

from __future__ import annotations

import time
from typing import Any

from engine.durations import format_duration
from engine.runs.events import SignInCode
from engine.runs.state import FINISHED_RUN, FINISHED_STEP, STOPPED_STEP, RunState, StepState, effective_status
from engine.runs.watch import RunDigest
from tui.widgets.remote_job import job_status
from tui.widgets.timeline import step_seconds

STARTUP_GRACE_S = 15.0


def sign_in_line(code: SignInCode) -> str:
    """The device code a step waits on, as the monitor and the Upload screen show it: where, which code, until
    when (local time) and where the sign-in will be kept."""
    from datetime import datetime

    line = f"Sign in to go on: open {code.url} and enter the code {code.code}"
    if code.expires_at:
        line += f" (before {datetime.fromisoformat(code.expires_at).astimezone().strftime('%H:%M')})"
    if code.unencrypted_cache:
        line += "; the sign-in is then kept in a file only you can read (no keyring on this machine)"
    return line


def running_step(state: RunState | None) -> StepState | None:
    if state is None:
        return None
    return next((s for s in state.steps if s.status == "running"), None)


def failed_step(state: RunState | None) -> str | None:
    if state is None:
        return None
    return next((s.name for s in state.steps if s.status in STOPPED_STEP), None)


def failure_text(state: RunState | None) -> str | None:
    """The pinned line: why the run failed (its reason, or the failed step's), or that it was lost."""
    if state is None:
        return None
    status = effective_status(state)
    step = next((s for s in state.steps if s.status == "failed"), None)
    if status == "lost":
        why = state.reason or "the run's supervisor is gone"
        return f"✘ {why}: the run stopped without finishing (retry with t)"
    if step is not None:
        return f"✘ {step.name} failed: {step.reason or state.reason or 'see the log'}"
    if status == "failed":
        return f"✘ run failed: {state.reason or 'see the log'}"
    if status == "starting" and state.supervisor_pid is None and time.time() - state.created_at > STARTUP_GRACE_S:
        return "✘ the run's supervisor did not start: its messages (supervisor.log) are at the end of the log"
    return None


def progress_text(state: RunState | None, digest: RunDigest, now: float) -> str:
    """What the running step is doing: pass, n/total with a bar, rate and ETA; or how the run ended."""
    if state is None:
        return "waiting for the run…"
    step = running_step(state)
    if step is None:
        status = effective_status(state)
        if status in FINISHED_RUN:
            took = format_duration(state.duration_s if state.ended_at else None)
            return f"run {status}" + (f" after {took}" if took else "") + loss_line(state, digest)
        return f"run {status}"
    line = [f"{step.name}"]
    pass_name = digest.passes.get(step.name) or step.current_pass
    if pass_name:
        line.append(f"pass {pass_label(pass_name)}")
    line.append(format_duration(step_seconds(step, now)))
    text = " · ".join(line)
    if step.remote is not None:
        text += "\n" + job_status(step.remote, now, polled=not state.poller_gone)
    code = digest.sign_in.get(step.name)
    if code is not None and not (step.remote and step.remote.job_name) and not digest.progress.get(step.name):
        text += "\n" + sign_in_line(code)  # until the step goes on (its job submitted, its upload started)
    progress = digest.progress.get(step.name) or (step.progress.model_dump() if step.progress else None)
    if progress and progress.get("n") is not None and step.name == "finetune" and digest.losses:
        # The trainer's bar is redrawn in place and may lag its loss lines: a loss logged at step 7 means
        # at least 7 steps are done, so the bar never says fewer than the loss beside it.
        latest = int(digest.losses[-1][0])
        if latest > int(progress["n"]) and (not progress.get("total") or latest <= int(progress["total"])):
            progress = {**progress, "n": latest, "eta_s": None}
    if progress and progress.get("n") is not None:
        text += "\n" + bar_text(progress)
    return text + loss_line(state, digest)


def pass_label(name: str) -> str:
    """Olive names a pass by its config key (`f:lora`, often one letter): show the type when the key is short."""
    key, _, kind = name.partition(":")
    return kind if kind and len(key) <= 2 else key or kind


def bar_text(progress: dict[str, Any]) -> str:
    """`████░░ 12/20 (60%) · 4.10 it/s · ETA 0:02`; a finished bar (weights loaded, say) says the step goes
    on instead of a stale `ETA 0:00`."""
    n, total = int(progress["n"]), progress.get("total")
    desc = str(progress.get("desc") or "").strip().rstrip(":")
    head = f"{desc}: " if desc else ""
    if total and n >= total:
        return f"{head}{'█' * 20} {n}/{total} done · the step goes on…"
    if total:
        filled = int(20 * min(1.0, n / total))
        text = f"{head}{'█' * filled}{'░' * (20 - filled)} {n}/{total} ({100 * n / total:.0f}%)"
    else:
        text = f"{head}{n} done"
    if progress.get("rate"):
        rate = float(progress["rate"])
        text += f" · {rate:.2f} it/s" if rate >= 1 else f" · {1 / rate:.1f} s/it"
    if progress.get("eta_s") is not None:
        text += f" · ETA {format_duration(float(progress['eta_s']))}"
    return text


def loss_line(state: RunState, digest: RunDigest) -> str:
    """The newest training and evaluation loss, from the same events the chart draws."""
    parts = []
    if digest.losses:
        step, loss = digest.losses[-1]
        parts.append(f"loss {loss:.3f} at step {step:g}")
    if digest.eval_losses:
        parts.append(f"eval {digest.eval_losses[-1][1]:.3f}")
    if not parts:
        try:
            finetune = state.step("finetune")
        except KeyError:
            return ""
        if finetune.last_loss is not None:
            parts.append(f"loss {finetune.last_loss:.3f}")
        if finetune.last_eval_loss is not None:
            parts.append(f"eval {finetune.last_eval_loss:.3f}")
    return ("\n" + " · ".join(parts)) if parts else ""


def chart_empty_text(state: RunState | None, branches_key: str = "b") -> str:
    """What the loss chart says before it has points (a sweep trains in its branches, not in its own folder)."""
    if state is None:
        return "no loss logged yet"
    if state.sweep is not None:
        return f"training runs in the branches: {branches_key} shows their curves"
    try:
        finetune = state.step("finetune")
    except KeyError:
        return "no loss logged yet"
    if finetune.status == "reused":
        where = f" from run {finetune.reused_from}" if finetune.reused_from else ""
        return f"fine-tune reused{where}: no training in this run (p shows that run's curve)"
    if finetune.status not in FINISHED_STEP:
        return "no loss logged yet: it appears once fine-tuning logs its first step"
    return "this run logged no loss"
