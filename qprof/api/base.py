"""What every API result shares: ``to_dict()``, the JSON contract with its ``schema_version``
(:data:`qprof.schema.SCHEMA_VERSION`)."""

from __future__ import annotations

from typing import Any

from qprof.schema import SCHEMA_VERSION, versioned

__all__ = ["SCHEMA_VERSION", "Result", "versioned"]


class Result:
    """A command's result: ``to_dict()`` is exactly the document ``--format json`` prints."""

    def document(self) -> dict[str, Any]:  # pragma: no cover - every result defines it
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return versioned(self.document())
