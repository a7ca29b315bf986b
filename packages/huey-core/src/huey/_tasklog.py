"""The words the consumer logs about a task's failures, and the traceback it logs with them.

The start and finish lines use huey 3.5.4's wording (``Executing …``, ``… executed in 0.001s``)
so that log searches written for huey keep working. A failure that will be retried says which
attempt failed and when the next one runs (``attempt 1 of 3 failed, retrying in 5s``).
"""

from __future__ import annotations

import sys
from types import FrameType, TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from huey._task import Task


def label(task: Task) -> str:
    """``module.name: id``: the task without the eta and retries its ``repr`` adds."""
    return f"{task.qualified_name}: {task.id}"


def seconds(value: float) -> str:
    """``5s``, ``0.25s``: a delay as people write it."""
    return f"{value:.3f}".rstrip("0").rstrip(".") + "s"


def outlook(task: Task, retrying: bool, delay: float) -> str:
    """What a failure that counts against ``task``'s retries means for it, for a log line:
    ``attempt 1 of 3 failed, retrying in 5s``, ``attempt 3 of 3 failed, no retries left``, or
    ``""`` for a task without retries that will not run again.

    ``task.retries`` is what was left before this failure. Attempts are numbered from the retries
    the task was declared with: a message carries only the retries left, not the first count.
    """
    declared, left = task.default_retries, task.retries
    if left > declared:  # More than declared (set per call): the first count is unknown.
        attempt = f"failed ({left} {'retry' if left == 1 else 'retries'} left)"
    elif declared:
        attempt = f"attempt {declared - left + 1} of {declared + 1} failed"
    else:
        return ""
    if not retrying:
        return f"{attempt}, no retries left"
    return f"{attempt}, retrying {f'in {seconds(delay)}' if delay > 0 else 'now'}"


def _top_module(frame: FrameType) -> str:
    return str(frame.f_globals.get("__name__") or "").partition(".")[0]


def _ours(frame: FrameType) -> bool:
    # Frames of huey (every distribution shares the package) and of the standard library (an
    # event loop, contextlib, importlib) that lead to a task's function or an imported module.
    top = _top_module(frame)
    return top == "huey" or top in sys.stdlib_module_names


def call_site(exc: BaseException) -> str | None:
    """``path:line`` of the caller's code when ``exc`` came out of its call into huey (a storage
    that cannot open its file, an invalid argument), None when the caller's own code raised it.
    The first means the message says what is wrong; the second needs the traceback."""
    caller = None
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if _top_module(frame) == "huey":
            if caller is not None:
                return caller
        elif not _ours(frame):
            caller = f"{frame.f_code.co_filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return None


def user_traceback(exc: BaseException) -> TracebackType | None:
    """``exc``'s traceback from the first frame of the task's own code: what a person reading
    the log needs, without the frames of the worker that called it. The whole traceback when
    every frame is huey's (an error of huey itself, or of a task class defined in huey)."""
    tb = exc.__traceback__
    while tb is not None and _ours(tb.tb_frame):
        tb = tb.tb_next
    return tb or exc.__traceback__
