"""Operations endpoints: liveness, readiness, metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from o2o.errors import PROBLEM_JSON, AppError, problem_responses
from o2o.observability import metrics_response

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process is up", response_model=dict[str, str])
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database answers",
    response_model=dict[str, str],
    responses=problem_responses((503, "database_unavailable")),
)
async def readyz(request: Request) -> Response:
    db = request.app.state.db
    try:
        await run_in_threadpool(db.ping)
    except Exception as exc:  # any failure to reach the database means "not ready"
        error = AppError("database_unavailable", 503, f"The database did not answer: {type(exc).__name__}.")
        return JSONResponse(error.to_problem(), status_code=503, media_type=PROBLEM_JSON)
    return JSONResponse({"status": "ready", "database": db.dialect})


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=True, response_class=Response)
def metrics(request: Request) -> Response:
    return metrics_response(request)
