"""qprof.django: capture, middleware, async views, every alias — on whichever database the
settings point at (SQLite, or the test PostgreSQL cluster)."""

from __future__ import annotations

import logging
import os

import pytest
from asgiref.sync import async_to_sync
from nplusone_django.library.views import author_lines, book_lines

import qprof.django

VIEWS = os.path.join("nplusone_django", "library", "views.py")


def test_lazy_foreign_key_loop_found_with_call_site_and_select_related(library) -> None:
    with qprof.django.capture() as cap:
        assert len(book_lines()) == 12
    [finding] = cap.findings()
    assert finding.executions == 12 and finding.relationship == "Book.author"
    assert finding.callsite.startswith(VIEWS + ":") and finding.callsite.endswith("in <listcomp>")
    assert "library_book" in finding.source_statement and "library_author" in finding.statement
    assert finding.fix == "add .select_related('author') to the Book queryset, so 12 lookups become one"
    assert finding.severity == "info"  # 12 lookups on 24 rows: cheap today, found all the same


def test_eager_twin_and_four_repeats_are_clean(library) -> None:
    with qprof.django.capture() as cap:
        book_lines(eager=True)
        book_lines(limit=4)
    assert len(cap.statements) == 1 + 1 + 4 and cap.findings() == []


def test_reverse_relation_loop_gets_prefetch_related(library) -> None:
    with qprof.django.capture() as cap:
        author_lines()
    [finding] = cap.findings()
    assert finding.relationship == "Author.books" and "prefetch_related('books')" in finding.fix


@pytest.mark.django_db(databases=["default", "other"])
def test_every_alias_is_captured(both_libraries) -> None:
    with qprof.django.capture() as cap:
        book_lines(using="other")
    [finding] = cap.findings()
    assert finding.executions == 12 and finding.relationship == "Book.author"


def test_raise_on_nplusone(library) -> None:
    with pytest.raises(AssertionError, match="select_related"), qprof.django.capture(raise_on_nplusone=True):
        book_lines()


def test_middleware_server_timing_and_request_log(library, client, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="qprof.django"):
        lazy = client.get("/books/")
        eager = client.get("/books/eager/")
    assert lazy.status_code == 200 and lazy["Server-Timing"].endswith('desc="13 statements"')
    assert eager["Server-Timing"].endswith('desc="1 statements"')
    messages = [record.getMessage() for record in caplog.records]
    assert any(m.startswith("GET /books/ 200: 13 statements") and m.endswith("1 N+1") for m in messages)
    assert any(m.startswith("GET /books/eager/ 200: 1 statements") and m.endswith("0 N+1") for m in messages)
    [finding] = [m for m in messages if m.startswith("N+1 in GET /books/")]
    assert f"at:       {VIEWS}:" in finding and "select_related('author')" in finding


def test_async_view_through_the_middleware(library, async_client, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="qprof.django"):
        response = async_to_sync(async_client.get)("/async/books/")
    assert response.status_code == 200 and response["Server-Timing"].endswith('desc="13 statements"')
    assert any(m.getMessage().startswith("N+1 in GET /async/books/") for m in caplog.records)
