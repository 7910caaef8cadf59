"""The views the tests request: the lazy foreign key loop, its eager twin, a reverse relation
loop and an async view (its ORM work runs in asgiref's thread, as Django does it)."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.http import HttpResponse

from nplusone_django.library.models import Author, Book


def book_lines(*, eager: bool = False, using: str = "default", limit: int = 12) -> list[str]:
    books = Book.objects.using(using).order_by("id")[:limit]
    if eager:
        books = books.select_related("author")
    return [f"{book.title} by {book.author.name}" for book in books]


def author_lines(limit: int = 12) -> list[str]:
    return [f"{author.name}: {len(author.books.all())}" for author in Author.objects.order_by("id")[:limit]]


def books(request) -> HttpResponse:
    return HttpResponse("\n".join(book_lines()))


def books_eager(request) -> HttpResponse:
    return HttpResponse("\n".join(book_lines(eager=True)))


def authors(request) -> HttpResponse:
    return HttpResponse("\n".join(author_lines()))


async def async_books(request) -> HttpResponse:
    lines = await sync_to_async(book_lines)()
    return HttpResponse("\n".join(lines))
