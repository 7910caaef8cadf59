"""Authors and their books: the issue's 12-author view, lazy and eager, on SQLite or PostgreSQL.

``filler`` books (by authors the view never lists, with no index on ``books.author_id``, stored
before the listed authors' books) make each lookup scan before its first row: the same loop,
slow — the way it behaves once production data arrives.
"""

from __future__ import annotations

from sqlalchemy import Engine, ForeignKey, Integer, Text, create_engine, select, text
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    selectinload,
)


class LibraryBase(DeclarativeBase):
    pass


class Author(LibraryBase):
    __tablename__ = "authors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    books: Mapped[list[Book]] = relationship(back_populates="author", order_by="Book.id")


class Book(LibraryBase):
    __tablename__ = "books"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))  # deliberately not indexed
    title: Mapped[str] = mapped_column(Text)
    author: Mapped[Author] = relationship(back_populates="books")


def list_authors(session: Session, limit: int = 12, *, eager: bool = False) -> dict[str, list[str]]:
    """The view: ``limit`` authors with their book titles (one lazy load per author unless eager)."""
    query = select(Author).order_by(Author.id).limit(limit)
    if eager:
        query = query.options(selectinload(Author.books))
    authors = session.scalars(query).all()
    return {author.name: [book.title for book in author.books] for author in authors}


def library_engine(url: str, *, filler: int = 0, **options) -> Engine:
    """An engine on a fresh library schema: 12 listed authors with 3 books each, plus ``filler``
    books by 1,000 other authors."""
    engine = create_engine(url, **options)
    LibraryBase.metadata.drop_all(engine)
    LibraryBase.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(Author.__table__.insert(), [{"id": i, "name": f"author {i}"} for i in range(1, 1013)])
        conn.execute(
            Book.__table__.insert(), [{"id": 10_000_000 + i * 10 + j, "author_id": i, "title": f"book {i}.{j}"} for i in range(1, 13) for j in range(3)]
        )
        if filler:
            if engine.dialect.name == "postgresql":
                series = "SELECT n FROM generate_series(1, :filler) AS s(n)"
            else:
                series = "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :filler) SELECT n FROM s"
            wide = "'filler'" if engine.dialect.name == "postgresql" else "hex(zeroblob(150))"
            if engine.dialect.name == "postgresql":  # the filler's authors exist: skip the per-row FK check
                conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(
                text(f"INSERT INTO books (id, author_id, title) SELECT n, 13 + n % 1000, {wide} FROM ({series}) AS series"),
                {"filler": filler},
            )
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE authors; ANALYZE books"))
    return engine
