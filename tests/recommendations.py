"""One helper for tests that hand ``verify()`` a set of indexes of their own choosing."""

from __future__ import annotations

from collections.abc import Sequence

from qprof.advise.candidates import Candidate


def recommendation(candidate: Candidate, served: Sequence, engine: str = "postgresql"):
    """A Recommendation for ``candidate`` serving ``served`` (AdviseStatements), as the advisor builds one."""
    from qprof.advise import generator

    name = generator.index_name(candidate)
    return generator.Recommendation(
        candidate=candidate,
        name=name,
        ddl=generator.create_ddl(candidate, name, engine),
        drop_ddl=generator.drop_ddl("main" if engine == "sqlite" else "public", name, engine),
        size_bytes=0,
        size_source="test",
        write_overhead=0.0,
        engine=engine,
        statements=[generator.StatementEvidence(key=s.key, text=s.sql, calls=s.calls, name=s.name) for s in served],
    )
