"""A FastAPI application that hands work to huey (run with ``uvicorn api:app``).

Handlers enqueue tasks (one quick storage write), report a task's status without consuming its
result, and await a result while the server goes on serving other requests.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, HTTPException
from tasks import fetch_profile, generate_report, huey

from huey.contrib.asyncio import aget_result
from huey.exceptions import TaskException

app = FastAPI(title="huey FastAPI example")


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/report/{user_id}")
async def begin_report(user_id: int, seconds: float = 0.2) -> dict[str, str]:
    result = generate_report(user_id, seconds)
    return {"task_id": result.id}


@app.get("/report/status/{task_id}")
async def report_status(task_id: str) -> dict[str, Any]:
    # A non-destructive read (preserve=True), on a thread: the status can be polled repeatedly.
    try:
        value = await asyncio.to_thread(huey.result, task_id, preserve=True)
    except TaskException as exc:
        return {"ready": True, "error": exc.metadata["error"]}
    return {"ready": value is not None, "value": value}


@app.post("/report/{user_id}/wait")
async def report_wait(user_id: int, seconds: float = 0.2) -> dict[str, Any]:
    result = generate_report(user_id, seconds)
    try:
        value = await aget_result(result)  # Other requests are served meanwhile.
    except TaskException as exc:
        raise HTTPException(status_code=500, detail=exc.metadata["error"]) from None
    return {"value": value}


@app.get("/profile/{user_id}")
async def profile(user_id: int, seconds: float = 0.2) -> dict[str, Any]:
    try:
        value = await aget_result(fetch_profile(user_id, seconds))
    except TaskException as exc:
        raise HTTPException(status_code=500, detail=exc.metadata["error"]) from None
    return {"value": value}
