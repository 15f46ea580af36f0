"""journal.db: schema and migrations, the service's writer, clients' read queries."""

from iejtui.store.queries import Reader, SeriesData
from iejtui.store.writer import Writer

__all__ = ["Reader", "SeriesData", "Writer"]
