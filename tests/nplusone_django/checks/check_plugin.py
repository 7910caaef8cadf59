"""Run with ``--qprof-nplusone``: the outer test expects exactly the failures named ``fails``."""

from __future__ import annotations

import pytest
from nplusone_django.library.views import book_lines


def test_lazy_view_fails(library) -> None:
    book_lines()


def test_eager_view_passes(library) -> None:
    book_lines(eager=True)


@pytest.mark.qprof(max_queries=10)
def test_capped_eager_passes(library) -> None:
    book_lines(eager=True)


@pytest.mark.qprof(max_queries=3)
def test_capped_four_lookups_fails(library) -> None:
    book_lines(limit=4)
