"""What `make run` starts: three workers, OCR apart from indexing, sized from the cores."""

from __future__ import annotations

import pytest

from launcher.topology import WorkerPlan, available_cores, plan


def test_ocr_has_its_own_worker_and_indexing_never_waits_behind_it() -> None:
    workers = plan({}, cores=2)
    assert [w.queues for w in workers] == ["ingest", "ocr", "query"]  # one queue each
    assert workers[0] == WorkerPlan("ingest", "ingest", 1, "solo", nice=5)
    assert workers[1] == WorkerPlan("ocr", "ocr", 1, "solo", nice=10)
    assert workers[2] == WorkerPlan("query", "query", 2, "threads")  # searches keep full priority


@pytest.mark.parametrize(("cores", "query"), [(1, 2), (2, 2), (4, 2), (8, 4), (64, 4)])
def test_query_concurrency_follows_the_cores(cores: int, query: int) -> None:
    assert plan({}, cores=cores)[2].concurrency == query


def test_the_counts_can_be_set() -> None:
    workers = plan({"QUERY_CONCURRENCY": "1", "OCR_WORKERS": "3"}, cores=2)
    assert workers[1] == WorkerPlan("ocr", "ocr", 3, "prefork", nice=10)  # processes: one engine each
    assert workers[2] == WorkerPlan("query", "query", 1, "solo")


@pytest.mark.parametrize("value", ["0", "two", "-1", "1000"])
def test_a_bad_count_is_refused_by_name(value: str) -> None:
    with pytest.raises(SystemExit, match=f"OCR_WORKERS must be a whole number from 1 to 64, got '{value}'"):
        plan({"OCR_WORKERS": value})


def test_cores_are_those_this_process_may_use() -> None:
    import os

    assert available_cores() == len(os.sched_getaffinity(0))
