"""Pipelines (then/error), groups, chords, ChordResult and map."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from huey import CancelExecution, MemoryHuey, chord, group
from huey.api import ChordResult, Result, ResultGroup, Task, TaskWrapper
from huey.exceptions import TaskException
from huey.utils import SKIPPED, Error


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
    values = [(1, 2), [1, 2], {"x": 1, "k": "parent"}, 5, None, ()]
    handles = [huey.enqueue(ret.s(v).then(show, "extra", k="kw")) for v in values]
    for _ in range(2 * len(values)):
        huey.execute(huey.dequeue())
    assert [rg.get()[1] for rg in handles] == [
        ("show", ("extra", 1, 2), {"k": "kw"}),  # A tuple extends the arguments...
        ("show", ("extra", [1, 2]), {"k": "kw"}),
        # ...a dict fills in the keyword arguments not given to then() (huey 3.5.4's rule)...
        ("show", ("extra",), {"k": "kw", "x": 1}),
        ("show", ("extra", 5), {"k": "kw"}),
        ("show", ("extra",), {"k": "kw"}),  # ...and None adds nothing.
        ("show", ("extra",), {"k": "kw"}),
    ]


def test_dict_results_fill_in_keyword_arguments_down_a_pipeline(
    huey: MemoryHuey, drain: Any
) -> None:
    @huey.task()
    def step(v1: int = -1, v2: int = -1) -> dict[str, int]:
        return {"v1": v1 + 1, "v2": v2 + 2}

    results = huey.enqueue(step.s(v1=10).then(step).then(step, v2=100))
    drain()
    assert results.get() == [{"v1": 11, "v2": 1}, {"v1": 12, "v2": 3}, {"v1": 13, "v2": 102}]


def test_then_with_task_instances_and_arguments(huey: MemoryHuey, tasks: Any, drain: Any) -> None:
    add, show = tasks["add"], tasks["show"]
    second, third = add.s(), show.s("own", k="own")
    pipeline = add.s(1, 2).then(second, 10).then(third, "more", k="then", j=1)
    # The instances themselves join the pipeline, with the arguments added to their own.
    assert pipeline.on_complete is second and second.on_complete is third
    assert (second.args, third.args) == ((10,), ("own", "more"))
    assert third.kwargs == {"k": "own", "j": 1}  # Its own keyword arguments are kept.
    results = huey.enqueue(pipeline)
    drain()
    assert results.get() == [3, 13, ("show", ("own", "more", 13), {"k": "own", "j": 1})]


def test_a_task_instance_cannot_make_a_loop(tasks: Any) -> None:
    add, handler = tasks["add"], tasks["handler"]
    first, second = add.s(1), add.s()
    first.then(second)
    with pytest.raises(ValueError):
        second.then(first)
    with pytest.raises(ValueError):
        first.then(second)  # Already its child: it would follow itself.
    assert first.pipeline() == [first, second] and second.args == ()
    shared = handler.s()
    first.error(shared)
    with pytest.raises(ValueError):
        first.error(shared)
    with pytest.raises(ValueError):
        shared.error(first)
    assert shared.on_error is None


def test_group_and_chord_then_take_task_instances_with_arguments(
    huey: MemoryHuey, tasks: Any, drain: Any
) -> None:
    add, show = tasks["add"], tasks["show"]
    c = group([add.s(1), add.s(2)]).then(show.s("cb"), "p", suffix="s")
    c.then(show.s(), "after")
    result = huey.enqueue(c)
    drain()
    assert result.pipeline_results.get() == [
        ("show", ("cb", "p", [1, 2]), {"suffix": "s"}),
        ("show", ("after", "show", ("cb", "p", [1, 2]), {"suffix": "s"}), {}),
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


def test_error_handlers_chain(huey: MemoryHuey, tasks: Any, drain: Any) -> None:
    boom, handler = tasks["boom"], tasks["handler"]
    first_handler, second_handler = boom.s("h1"), handler.s("h2")
    task = boom.s(1).error(first_handler).error(second_handler)
    # The second handler is the first handler's: it runs when handling the error fails too.
    assert task.on_error is first_handler and first_handler.on_error is second_handler
    huey.enqueue(task)
    values = drain()
    assert len(values) == 3 and values[:2] == [None, None]
    name, (label, exc), _ = values[2]
    assert (name, label) == ("handler", "h2")
    assert isinstance(exc, ValueError) and exc.args[:2] == ("boom", "h1")


def test_chord_error_handlers_chain(huey: MemoryHuey, tasks: Any, drain: Any) -> None:
    add, boom, handler = tasks["add"], tasks["boom"], tasks["handler"]
    c = chord([add.s(1)], boom.s()).error(boom, "h1").error(handler, "h2")
    huey.enqueue(c)
    name, (label, exc), _ = drain()[-1]
    assert (name, label) == ("handler", "h2") and exc.args[:2] == ("boom", "h1")


def test_error_handler_waits_for_the_last_retry_without_intermediate_errors(
    tasks: Any,
) -> None:
    h = MemoryHuey("deferred", store_intermediate_errors=False)

    @h.task(retries=2)
    def flaky() -> None:
        raise ValueError("again")

    @h.task()
    def handled(exc: Exception) -> str:
        return f"handled {exc!r}"

    result = h.enqueue(flaky.s().error(handled))
    for _ in range(2):  # Two failures with a retry left: only the task is queued again.
        assert h.execute(h.dequeue()) is None
        assert [t.name for t in h.pending()] == [flaky.name]
        assert result.get() is None
    assert h.execute(h.dequeue()) is None  # The last retry fails: now the handler.
    assert [t.name for t in h.pending()] == [handled.name]
    assert h.execute(h.dequeue()) == "handled ValueError('again')"
    assert h.pending_count() == 0
    with pytest.raises(TaskException):
        result.get()


def test_reraised_subtask_error_keeps_the_root_error(huey: MemoryHuey, drain: Any) -> None:
    @huey.task()
    def inner() -> None:
        raise KeyError("root cause")

    @huey.task()
    def outer() -> Any:
        handle = inner()
        huey.execute(huey.dequeue())
        return handle.get()  # Raises TaskException, which fails this task too.

    result = outer()
    huey.execute(huey.dequeue())
    with pytest.raises(TaskException) as info:
        result.get()
    assert info.value.metadata["error"] == "KeyError('root cause')"
    assert "TaskException" in info.value.metadata["traceback"]


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


def test_group_error_with_a_task_instance_shares_it(
    huey: MemoryHuey, tasks: Any, drain: Any
) -> None:
    boom, handler = tasks["boom"], tasks["handler"]
    shared = handler.s("shared")
    inner = chord([boom.s(0)], boom.s())
    g = group([boom.s(1), boom.s(2), inner]).error(shared, "once")
    # As huey 3.5.4 documents: one handler task for every member, arguments added once.
    assert all(member.on_error is shared for member in g.tasks[:2])
    assert inner.callback.on_error is shared and shared.args == ("shared", "once")
    huey.enqueue(g)
    handled = [v for v in drain() if isinstance(v, tuple)]
    assert len(handled) == 3  # Both members and the chord's callback (not the chord's member).


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


def test_chord_member_failing_after_retries_gives_its_error(
    huey: MemoryHuey, tasks: Any, drain: Any
) -> None:
    add, show, boom_retry = tasks["add"], tasks["show"], tasks["boom_retry"]
    result = huey.enqueue(chord([add.s(1, 2), boom_retry.s(7)], show.s()))
    huey.execute(huey.dequeue())
    failing = huey.dequeue()
    huey.execute(failing)  # First failure: retried, the chord waits.
    assert [t.name for t in huey.pending()] == [boom_retry.name]
    drain()
    value = result.get()
    ((three, error),) = value[1]
    # The stored error result, as huey 3.5.4 passes it: what a mixed fleet's callback gets
    # whichever consumer ran the member.
    assert three == 3 and isinstance(error, Error)
    assert error.metadata["error"] == "ValueError('boom_retry', 7)"
    assert error.metadata["task_id"] == failing.id and error.metadata["retries"] == 0
    with pytest.raises(TaskException):
        result.results.get()


def test_chord_member_failing_mid_pipeline_completes_the_chord(
    huey: MemoryHuey, tasks: Any, drain: Any
) -> None:
    add, show, boom = tasks["add"], tasks["show"], tasks["boom"]
    result = huey.enqueue(chord([add.s(1).then(boom).then(add, 1), add.s(2)], show.s()))
    drain()
    ((error, two),) = result.get()[1]
    assert isinstance(error, Error) and two == 2
    assert error.metadata["error"] == "ValueError('boom', 1)"


def test_chord_member_errors_reach_the_callback_without_results() -> None:
    h = MemoryHuey("no-results", results=False)
    seen: list[Any] = []

    @h.task()
    def boom() -> None:
        raise ValueError("no store")

    @h.task()
    def collect(values: list[Any]) -> None:
        seen.extend(values)

    h.enqueue(chord([boom.s()], collect.s()))
    h.execute(h.dequeue())
    h.execute(h.dequeue())
    (error,) = seen
    assert isinstance(error, Error) and error.metadata["error"] == "ValueError('no store')"


def test_empty_chord_runs_its_callback_with_an_empty_list(
    huey: MemoryHuey, tasks: Any, drain: Any
) -> None:
    show = tasks["show"]
    c = chord([], show.s("none")).then(show, "after")  # A pipeline after the callback too.
    called = ("show", ("none", []), {})
    for _ in range(2):  # Enqueued again, it does not get a second list.
        result = huey.enqueue(c)
        assert huey.pending_count() == 1
        drain()
        assert result.get() == called and result.results.get() == []
        assert result.pipeline_results.get() == [called, ("show", ("after", *called), {})]
    assert c.callback.args == ("none",)


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
    with pytest.raises(TypeError):
        chord([group([tasks["add"].s(1)])], Task())  # type: ignore[list-item]


def test_pipeline_member_eta(huey: MemoryHuey, tasks: Any) -> None:
    add = tasks["add"]
    huey.enqueue(add.s(1, eta=dt.datetime(2030, 1, 1)).then(add, 2))
    assert huey.pending()[0].eta == dt.datetime(2030, 1, 1)
