"""Fixtures of the Django checks. Models are imported inside them: the main suite's collection
walks this folder too (without Django settings) and must not import them."""

import pytest


def _fill(using: str) -> None:
    from nplusone_django.library.models import Author, Book

    authors = Author.objects.using(using).bulk_create(Author(name=f"author {i}") for i in range(1, 13))
    Book.objects.using(using).bulk_create(Book(title=f"book {a.id}.{j}", author=a) for a in authors for j in range(2))


@pytest.fixture
def library(db) -> None:
    """12 authors with 2 books each, in a fixture: not part of what the test itself runs."""
    _fill("default")


@pytest.fixture
def both_libraries(db) -> None:
    _fill("default")
    _fill("other")
