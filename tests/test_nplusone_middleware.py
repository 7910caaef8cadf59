"""The WSGI middleware streams: a generator body reaches the server chunk by chunk, and the
statements it runs while streaming are still judged when the server closes the response."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from nplusone_app import customer_order_totals, seeded_sqlite_engine
from sqlalchemy.orm import Session

from qprof.nplusone.middleware import NPlusOneWSGIMiddleware


@pytest.fixture
def engine(tmp_path: Path):
    yield from seeded_sqlite_engine(tmp_path / "shop.sqlite")


def test_streaming_body_is_not_buffered_and_is_judged_at_close(engine) -> None:
    progress: list[str] = []
    app_closed = threading.Event()

    def app(environ, start_response):
        with Session(engine) as session:
            customer_order_totals(session, 1)  # before the headers: 2 statements
        start_response("200 OK", [("Content-Type", "text/plain")])

        def body():
            try:
                yield b"header\n"
                progress.append("after first chunk")
                with Session(engine) as session:  # an N+1 while streaming
                    yield str(customer_order_totals(session, 7)).encode()
                progress.append("finished")
            finally:
                app_closed.set()

        return body()

    reported = []
    wrapped = NPlusOneWSGIMiddleware(app, engine, min_ms=0, server_timing=True, on_findings=lambda label, f: reported.append((label, f)))
    headers = {}
    try:
        response = wrapped({"REQUEST_METHOD": "GET", "PATH_INFO": "/stream"}, lambda s, h, *a: headers.update(h))
        chunks = iter(response)
        assert next(chunks) == b"header\n"
        assert progress == []  # the first chunk reached the server before the app went on
        assert headers["Server-Timing"].endswith('desc="2 statements"')  # what ran before the headers
        rest = list(chunks)
        assert progress == ["after first chunk", "finished"] and rest and not reported
        response.close()  # the server's duty under PEP 3333: the request ends here
        response.close()  # …and a second close reports nothing twice
    finally:
        wrapped.close()
    assert app_closed.is_set()
    [(label, [finding])] = reported
    # one lazy load before the headers (its own source, a loop of one), seven while streaming: all judged with the request
    assert label == "GET /stream" and finding.executions == 7 and "Customer.orders" in finding.describe()


def test_closing_early_closes_the_app_body_and_reports_what_ran(engine) -> None:
    closed = threading.Event()

    def app(environ, start_response):
        start_response("200 OK", [])

        def body():
            try:
                with Session(engine) as session:
                    customer_order_totals(session, 5)
                yield b"first"
                yield b"never sent"
            finally:
                closed.set()

        return body()

    reported = []
    wrapped = NPlusOneWSGIMiddleware(app, engine, min_ms=0, on_findings=lambda label, f: reported.append((label, f)))
    try:
        response = wrapped({"REQUEST_METHOD": "GET", "PATH_INFO": "/gone"}, lambda s, h, *a: None)
        assert next(iter(response)) == b"first"
        response.close()  # the client went away
    finally:
        wrapped.close()
    assert closed.is_set()
    assert [(label, f[0].executions) for label, f in reported] == [("GET /gone", 5)]


def test_iterated_in_another_thread_still_counts_for_the_request(engine) -> None:
    def app(environ, start_response):
        start_response("200 OK", [])

        def body():
            with Session(engine) as session:
                yield str(customer_order_totals(session, 6)).encode()

        return body()

    reported = []
    wrapped = NPlusOneWSGIMiddleware(app, engine, min_ms=0, on_findings=lambda label, f: reported.append((label, f)))
    try:
        response = wrapped({"REQUEST_METHOD": "GET", "PATH_INFO": "/thread"}, lambda s, h, *a: None)
        worker = threading.Thread(target=lambda: (list(response), response.close()))
        worker.start()
        worker.join(30)
    finally:
        wrapped.close()
    assert [(label, f[0].executions) for label, f in reported] == [("GET /thread", 6)]
