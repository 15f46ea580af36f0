"""journal.db: schema and migrations, the service's writer, clients' read queries, and
the runs table's vocabulary (``RunStatus``, ``RunKind``). Nothing outside this package
runs SQL or touches a connection."""

from iejtui.store.queries import Reader, SeriesData
from iejtui.store.vocab import RunKind, RunStatus
from iejtui.store.writer import Writer

__all__ = ["Reader", "RunKind", "RunStatus", "SeriesData", "Writer"]
