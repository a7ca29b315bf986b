"""Pipelines (then/error), groups, chords, ChordResult and map."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from huey import CancelExecution, MemoryHuey, chord, group
from huey.api import ChordResult, Result, ResultGroup, Task, TaskWrapper
from huey.exceptions import TaskException
from huey.utils import SKIPPED


@pytest.fixture
def tasks(huey: MemoryHuey) -> dict[str, TaskWrapper]:
    @huey.task()
    def add(a: int, b: int = 0) -> int:
        return a + b

    @huey.task()
    def show(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
        return ("show", args, kwargs)

    @huey.task()
    def ret(value: Any) -> Any:
        return value

    @huey.task()
    def fib(a: int, b: int = 1) -> tuple[int, int]:
        a, b = a + b, a
        return (a, b)

    @huey.task()
    def boom(*args: Any) -> None:
        raise ValueError("boom", *args)

    @huey.task(retries=1)
    def boom_retry(*args: Any) -> None:
        raise ValueError("boom_retry", *args)

    @huey.task()
    def handler(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
        return ("handler", args, kwargs)

    return {
        "add": add,
        "show": show,
        "ret": ret,
        "fib": fib,
        "boom": boom,
        "boom_retry": boom_retry,
        "handler": handler,
    }


# -- pipelines ----------------------------------------------------------------------------------


def test_pipeline_of_additions(huey: MemoryHuey, tasks: Any, drain: Any) -> None:
    add = tasks["add"]
    pipeline = add.s(1, 2).then(add, 3).then(add, 4).then(add, 5)
    assert isinstance(pipeline, Task) and pipeline.args == (1, 2)  # then() returns the head.
    results = huey.enqueue(pipeline)
    assert isinstance(results, ResultGroup) and len(results) == 4
    assert huey.pending_count() == 1  # Children are enqueued as their parents finish.
    drain()
    assert results.get() == [3, 6, 10, 15]


def test_pipeline_of_tuples_extends_args(huey: MemoryHuey, tasks: Any, drain: Any) -> None:
    fib = tasks["fib"]
    results = huey.enqueue(fib.s(1).then(fib).then(fib))
    drain()
    assert results.get() == [(2, 1), (3, 2), (5, 3)]


def test_parent_value_follows_the_child_arguments(huey: MemoryHuey, tasks: Any) -> None:
    ret, show = tasks["ret"], tasks["show"]
    values = [(1, 2), [1, 2], {"x": 1}, 5, None]
    handles = [huey.enqueue(ret.s(v).then(show, "extra", k="kw")) for v in values]
    for _ in range(2 * len(values)):
        huey.execute(huey.dequeue())
    assert [rg.get()[1] for rg in handles] == [
        ("show", ("extra", 1, 2), {"k": "kw"}),  # A tuple extends the arguments...
        ("show", ("extra", [1, 2]), {"k": "kw"}),
        ("show", ("extra",), {"k": "kw", "x": 1}),  # ...a dict updates the keyword arguments...
        ("show", ("extra", 5), {"k": "kw"}),
        ("show", ("extra",), {"k": "kw"}),  # ...and None adds nothing.
    ]


def test_error_handler_gets_the_exception(huey: MemoryHuey, tasks: Any, signals: Any) -> None:
    boom, handler = tasks["boom"], tasks["handler"]
    r = huey.enqueue(boom.s(1).error(handler, "x", kk=1))
    assert isinstance(r, Result)  # The error handler is no part of the result.
    signals.clear()
    huey.execute(huey.dequeue())
    assert signals.take() == ["executing", "error", "enqueued"]
    value = huey.execute(huey.dequeue())
    assert value[0] == "handler" and value[2] == {"kk": 1}
    x, exc = value[1]
    assert x == "x" and isinstance(exc, ValueError) and exc.args == ("boom", 1)
    with pytest.raises(TaskException):
        r.get()


def test_error_handler_runs_on_every_failure(huey: MemoryHuey, tasks: Any, signals: Any) -> None:
    boom_retry, handler = tasks["boom_retry"], tasks["handler"]
    huey.enqueue(boom_retry.s(1).error(handler))
    signals.clear()
    huey.execute(huey.dequeue())
    assert signals.take() == ["executing", "error", "enqueued", "retrying", "enqueued"]
    handled = []
    for _ in range(3):
        value = huey.execute(huey.dequeue())
        if value is not None:
            handled.append(value)
    assert len(handled) == 2
    assert all(len(args) == 1 and isinstance(args[0], ValueError) for _, args, _ in handled)


def test_error_attaches_to_the_task_it_is_called_on(
    huey: MemoryHuey, tasks: Any, drain: Any
) -> None:
    add, boom, handler = tasks["add"], tasks["boom"], tasks["handler"]
    pipeline = add.s(1, 2).then(boom).error(handler)
    assert pipeline.on_error is not None and pipeline.on_complete.on_error is None
    huey.enqueue(pipeline)
    assert drain() == [3, None]
    assert huey.result_count() == 2  # add's value and boom's error; no handler ran.


def test_failed_pipeline_step_fails_the_rest(huey: MemoryHuey, tasks: Any, drain: Any) -> None:
    add, boom = tasks["add"], tasks["boom"]
    results = huey.enqueue(add.s(1, 2).then(boom).then(add, 1).then(add, 2))
    drain()
    first, second, third, fourth = results
    assert first.get() == 3
    for r in (second, third, fourth):
        with pytest.raises(TaskException) as info:
            r.get()
        assert info.value.metadata["error"] == "ValueError('boom', 3)"
        assert info.value.metadata["task_id"] == second.id
    with pytest.raises(TaskException):
        results.get()


def test_results_of_a_pipeline_are_read_in_order(huey: MemoryHuey, tasks: Any) -> None:
    add = tasks["add"]
    results = huey.enqueue(add.s(1).then(add, 1))
    assert [r.id for r in results] == [t.id for t in huey.pending()[0].pipeline()]


# -- groups -------------------------------------------------------------------------------------


def test_group(huey: MemoryHuey, tasks: Any, drain: Any) -> None:
    add = tasks["add"]
    rg = huey.enqueue(group([add.s(1, 2), add.s(3, 4), add.s(5)]))
    assert isinstance(rg, ResultGroup) and len(rg) == 3
    assert huey.pending_count() == 3
    drain()
    assert rg.get() == [3, 7, 5]


def test_group_result_raises_for_a_failed_member(huey: MemoryHuey, tasks: Any, drain: Any) -> None:
    add, boom = tasks["add"], tasks["boom"]
    rg = huey.enqueue(group([add.s(1, 2), boom.s()]))
    drain()
    with pytest.raises(TaskException):
        rg.get()


def test_group_error_handler_for_every_member(huey: MemoryHuey, tasks: Any, drain: Any) -> None:
    add, boom, handler = tasks["add"], tasks["boom"], tasks["handler"]
    g = group([add.s(1, 2), boom.s(9), boom.s(8)]).error(handler, "ge")
    assert isinstance(g, group)
    handler_ids = {member.on_error.id for member in g.tasks}
    assert len(handler_ids) == 3  # One handler task per member.
    huey.enqueue(g)
    values = [v for v in drain() if isinstance(v, tuple)]
    assert sorted(v[1][1].args for v in values) == [("boom", 8), ("boom", 9)]
    assert all(v[1][0] == "ge" for v in values)


def test_group_then_is_a_chord(huey: MemoryHuey, tasks: Any, drain: Any) -> None:
    add, show = tasks["add"], tasks["show"]
    c = group([add.s(1, 2), add.s(3)]).then(show, "extra")
    assert isinstance(c, chord)
    result = huey.enqueue(c)
    assert isinstance(result, ChordResult)
    drain()
    assert result.get() == ("show", ("extra", [3, 3]), {})


# -- chords -------------------------------------------------------------------------------------


def test_chord_results_are_in_member_order(huey: MemoryHuey, tasks: Any, signals: Any) -> None:
    add, show = tasks["add"], tasks["show"]
    result = huey.enqueue(chord([add.s(1, 2), add.s(3, 4).then(add, 10), add.s(5, 6)], show.s()))
    assert isinstance(result, ChordResult) and result.pipeline_results is None
    members = [huey.dequeue() for _ in range(3)]
    for task in reversed(members):  # Finish in reverse order.
        huey.execute(task)
    assert huey.pending_count() == 1  # The pipeline member's second step.
    huey.execute(huey.dequeue())
    callback = huey.dequeue()
    assert callback.id == result.callback.id
    assert huey.execute(callback) == ("show", ([3, 17, 11],), {})
    assert result.get() == ("show", ([3, 17, 11],), {})
    assert result() == ("show", ([3, 17, 11],), {})  # Cached.
    assert result.results.get() == [3, 17, 11]  # The member results, pipeline ends included.


def test_chord_bookkeeping_keys(huey: MemoryHuey, tasks: Any) -> None:
    add, show = tasks["add"], tasks["show"]
    huey.enqueue(chord([add.s(1), add.s(2)], show.s()))
    first = huey.dequeue()
    chord_id = first.chord_config[0]
    huey.execute(first)
    keys = set(huey.all_results())
    assert f"chord:{chord_id}:0" in keys and first.id in keys
    assert huey.storage.incr(f"chord:{chord_id}", 0) == 1
    huey.execute(huey.dequeue())
    assert not any(k.startswith("chord:") for k in huey.all_results())
    assert huey.storage.incr(f"chord:{chord_id}", 0) == 0  # The counter is gone.


def test_chord_callback_arguments(huey: MemoryHuey, tasks: Any, drain: Any) -> None:
    add, show = tasks["add"], tasks["show"]
    result = huey.enqueue(chord([add.s(1)], show.s("cb", k=1)))
    drain()
    # A list even for a single member, after the callback's own arguments (as huey 3.5.4 does;
    # with none, it is the first argument).
    assert result.get() == ("show", ("cb", [1]), {"k": 1})


def test_chord_member_failing_after_retries_gives_its_exception(
    huey: MemoryHuey, tasks: Any, drain: Any
) -> None:
    add, show, boom_retry = tasks["add"], tasks["show"], tasks["boom_retry"]
    result = huey.enqueue(chord([add.s(1, 2), boom_retry.s(7)], show.s()))
    huey.execute(huey.dequeue())
    huey.execute(huey.dequeue())  # First failure: retried, the chord waits.
    assert [t.name for t in huey.pending()] == [boom_retry.name]
    drain()
    value = result.get()
    ((three, exc),) = value[1]
    assert three == 3 and isinstance(exc, ValueError) and exc.args == ("boom_retry", 7)


def test_chord_member_failing_mid_pipeline_completes_the_chord(
    huey: MemoryHuey, tasks: Any, drain: Any
) -> None:
    add, show, boom = tasks["add"], tasks["show"], tasks["boom"]
    result = huey.enqueue(chord([add.s(1).then(boom).then(add, 1), add.s(2)], show.s()))
    drain()
    ((exc, two),) = result.get()[1]
    assert isinstance(exc, ValueError) and two == 2


def test_expired_chord_member_is_skipped(
    huey: MemoryHuey, tasks: Any, signals: Any, later: Any
) -> None:
    add, show = tasks["add"], tasks["show"]
    result = huey.enqueue(chord([add.s(1, 2), add.s(3, 4, expires=1)], show.s()))
    huey.execute(huey.dequeue())
    signals.clear()
    huey.execute(huey.dequeue(), later(60))
    assert signals.names() == ["expired", "enqueued"]
    huey.execute(huey.dequeue())
    assert result.get() == ("show", ([3, SKIPPED],), {})


def test_revoked_chord_member_is_skipped(
    huey: MemoryHuey, tasks: Any, signals: Any, drain: Any
) -> None:
    # The reference warns that this stalls the chord; huey 3.5.4 completes it, as here.
    add, show = tasks["add"], tasks["show"]
    result = huey.enqueue(chord([add.s(1), add.s(2), add.s(3)], show.s()))
    result.results._results[0].revoke()
    signals.clear()
    huey.execute(huey.dequeue())
    assert signals.names() == ["revoked"]
    drain()
    assert result.get() == ("show", ([SKIPPED, 2, 3],), {})
    assert result.results._results[0].get() is None  # Nothing stored for the revoked member.


def test_chord_member_canceled_before_running_is_skipped(
    huey: MemoryHuey, tasks: Any, drain: Any
) -> None:
    add, show = tasks["add"], tasks["show"]

    @huey.pre_execute()
    def no_fives(task: Task) -> None:
        if task.args == (5,):
            raise CancelExecution("not this one")

    result = huey.enqueue(chord([add.s(5), add.s(6)], show.s()))
    drain()
    assert result.get() == ("show", ([SKIPPED, 6],), {})


def test_revoking_the_callback_cancels_a_chord(huey: MemoryHuey, tasks: Any, drain: Any) -> None:
    add, show = tasks["add"], tasks["show"]
    result = huey.enqueue(chord([add.s(1), add.s(2)], show.s()))
    result.callback.revoke()
    drain()
    assert result.results.get() == [1, 2] and result.get() is None


def test_chord_then_and_pipeline_results(huey: MemoryHuey, tasks: Any, drain: Any) -> None:
    add = tasks["add"]

    @huey.task()
    def total(values: list[int]) -> int:
        return sum(values)

    result = huey.enqueue(chord([add.s(1), add.s(2)], total.s()).then(add, 10).then(add, 100))
    assert isinstance(result.pipeline_results, ResultGroup) and len(result.pipeline_results) == 3
    assert result.pipeline_results._results[0].id == result.callback.id
    drain()
    assert result.pipeline_results.get() == [3, 13, 113]
    assert result.pipeline_results[2] == 113
    assert result.get() == 3  # get() is the callback's result.


def test_chord_error_handles_callback_errors(huey: MemoryHuey, tasks: Any, drain: Any) -> None:
    add, boom, handler = tasks["add"], tasks["boom"], tasks["handler"]
    c = chord([add.s(1, 2)], boom.s()).error(handler)
    assert isinstance(c, chord)
    result = huey.enqueue(c)
    values = drain()
    assert values[-1][0] == "handler"
    (exc,) = values[-1][1]
    assert isinstance(exc, ValueError) and exc.args == ("boom", [3])
    with pytest.raises(TaskException):
        result.get()


def test_nested_chords(huey: MemoryHuey, tasks: Any, drain: Any) -> None:
    add, show = tasks["add"], tasks["show"]

    @huey.task()
    def merge(label: str, values: list[int]) -> str:
        return f"{label}={sum(values)}"

    inner1 = chord([add.s(1), add.s(2)], merge.s("in1"))
    inner2 = chord([add.s(3), add.s(4).then(add, 10)], merge.s("in2"))
    result = huey.enqueue(chord([inner1, inner2, add.s(100)], show.s("outer")))
    assert huey.pending_count() == 5
    drain()
    assert result.get() == ("show", ("outer", ["in1=3", "in2=17", 100]), {})
    assert result.results.get() == ["in1=3", "in2=17", 100]


def test_chord_callback_may_be_a_task_function(huey: MemoryHuey, tasks: Any, drain: Any) -> None:
    add, show = tasks["add"], tasks["show"]
    result = huey.enqueue(chord([add.s(1)], show))
    drain()
    assert result.get() == ("show", ([1],), {})
    with pytest.raises(TypeError):
        chord([add.s(1)], "not a task")  # type: ignore[arg-type]


def test_chord_result_api(huey: MemoryHuey, tasks: Any, drain: Any) -> None:
    add = tasks["add"]
    attempts: list[int] = []

    @huey.task(retries=1)
    def flaky_total(values: list[int]) -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("once")
        return sum(values)

    result = huey.enqueue(chord([add.s(1), add.s(2)], flaky_total.s()))
    assert isinstance(result.results, ResultGroup) and isinstance(result.callback, Result)
    for _ in range(3):
        huey.execute(huey.dequeue())
    with pytest.raises(TaskException):
        result.get()
    drain()
    with pytest.raises(TaskException):
        result()
    result.reset()
    assert result.get() == 3
    assert result.callback.is_ready()


def test_chord_in_immediate_mode() -> None:
    h = MemoryHuey(immediate=True)

    @h.task()
    def square(n: int) -> int:
        return n * n

    @h.task()
    def total(values: list[int]) -> int:
        return sum(values)

    result = h.enqueue(chord([square.s(i) for i in range(4)], total.s()))
    assert result.get() == 14


def test_chord_members_are_tasks_or_chords(tasks: Any) -> None:
    with pytest.raises(ValueError):
        chord([], Task())
    with pytest.raises(TypeError):
        chord([group([tasks["add"].s(1)])], Task())  # type: ignore[list-item]


def test_pipeline_member_eta(huey: MemoryHuey, tasks: Any) -> None:
    add = tasks["add"]
    huey.enqueue(add.s(1, eta=dt.datetime(2030, 1, 1)).then(add, 2))
    assert huey.pending()[0].eta == dt.datetime(2030, 1, 1)
