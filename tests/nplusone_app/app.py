"""Models and views of the test application. The views are what a web handler would run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from sqlalchemy import BigInteger, Engine, ForeignKey, Integer, Text, create_engine, select
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, selectinload


class Base(AsyncAttrs, DeclarativeBase):
    pass


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    email: Mapped[str] = mapped_column(Text)
    country: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    orders: Mapped[list[Order]] = relationship(back_populates="customer", order_by="Order.id")


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    status: Mapped[str] = mapped_column(Text)
    total_cents: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    customer: Mapped[Customer] = relationship(back_populates="orders")


def customer_order_totals(session: Session, limit: int = 20, *, eager: bool = False) -> dict[int, int]:
    """Total order value per customer for the first ``limit`` customers (the classic N+1 view)."""
    query = select(Customer).order_by(Customer.id).limit(limit)
    if eager:
        query = query.options(selectinload(Customer.orders))
    customers = session.scalars(query).all()
    return {c.id: sum(o.total_cents for o in c.orders) for c in customers}


async def customer_order_totals_async(session, limit: int = 20, *, eager: bool = False) -> dict[int, int]:
    """The same view on an AsyncSession (lazy loads go through ``awaitable_attrs``)."""
    query = select(Customer).order_by(Customer.id).limit(limit)
    if eager:
        query = query.options(selectinload(Customer.orders))
    customers = (await session.scalars(query)).all()
    totals = {}
    for customer in customers:
        orders = await customer.awaitable_attrs.orders
        totals[customer.id] = sum(o.total_cents for o in orders)
    return totals


def recent_orders_with_customer(session: Session, limit: int = 30) -> list[tuple[int, str]]:
    """Orders with their customer's name: a many-to-one lazy load per distinct customer."""
    orders = session.scalars(select(Order).order_by(Order.id.desc()).limit(limit)).all()
    return [(o.id, o.customer.name) for o in orders]


def seed(session: Session, customers: int = 30, orders_per_customer: int = 3) -> None:
    """A few rows on an empty schema (SQLite tests; PostgreSQL tests use the sample loader)."""
    when = datetime(2024, 1, 1)
    for i in range(1, customers + 1):
        customer = Customer(id=i, name=f"customer {i}", email=f"c{i}@example.com", country="NL", created_at=when)
        customer.orders = [Order(id=i * 100 + j, status="delivered", total_cents=100 * j, created_at=when) for j in range(orders_per_customer)]
        session.add(customer)
    session.commit()


def seeded_sqlite_engine(path: Path, customers: int = 30) -> Iterator[Engine]:
    """A SQLite file with the schema and seed data; the engine is disposed afterwards (fixture body)."""
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        seed(session, customers=customers)
    yield engine
    engine.dispose()
