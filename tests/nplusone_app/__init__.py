"""A small SQLAlchemy ORM application on the sample schema (customers → orders), used by the
N+1 tests: the same views written the lazy way (one query per customer) and the eager way."""

from nplusone_app.app import (  # noqa: F401
    Base,
    Customer,
    Order,
    customer_order_totals,
    customer_order_totals_async,
    recent_orders_with_customer,
    seed,
    seeded_sqlite_engine,
)
from nplusone_app.library import Author, Book, library_engine, list_authors  # noqa: F401, E402
