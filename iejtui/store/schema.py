"""journal.db schema, its version, and forward migrations.

The schema version lives in ``PRAGMA user_version``. ``MIGRATIONS[i]`` takes a database
from version ``i`` to ``i + 1``; a database newer than this code is refused (never
touched), because an old iejtui writing into a newer layout would corrupt it.
"""

from __future__ import annotations

import sqlite3

from iejtui.errors import UserError

SCHEMA_V1 = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT
);
-- One launched or attached engine, one benchmark job, or one headless recording.
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,              -- engine | bench | record | imported
    name TEXT NOT NULL,
    engine_kind TEXT,                -- vllm | trtllm | sglang | llamacpp | openai
    owned INTEGER NOT NULL DEFAULT 1,-- 0 for attached engines (someone else's process)
    status TEXT NOT NULL,            -- starting | ready | stopped | crashed | interrupted | failed
    phase TEXT,                      -- startup phase while starting
    argv TEXT,                       -- JSON list, secrets redacted
    env TEXT,                        -- JSON object of variables set for the run, secrets redacted
    cwd TEXT,
    versions TEXT,                   -- JSON: engine, driver, cuda, iejtui, python
    model TEXT,
    gpus TEXT,                       -- JSON list of GPU UUIDs
    url TEXT,
    pid INTEGER,
    pgid INTEGER,
    started_at REAL NOT NULL,
    ready_at REAL,
    ended_at REAL,
    exit_code INTEGER,
    reason TEXT,                     -- why it ended, in one line
    log_path TEXT,
    log_tail TEXT,                   -- last lines of the log, secrets redacted
    facts TEXT,                      -- JSON: startup facts (KV tokens, max concurrency, load time...)
    summary TEXT,                    -- JSON: headline figures computed when the run ends
    parent_id INTEGER REFERENCES runs(id),  -- a benchmark's target engine run
    tags TEXT NOT NULL DEFAULT '[]', -- JSON list
    day INTEGER
);
CREATE INDEX runs_started ON runs(started_at);
CREATE INDEX runs_name ON runs(name, started_at);

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    run_id INTEGER REFERENCES runs(id),
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    data TEXT
);
CREATE INDEX events_run_ts ON events(run_id, ts);

-- A frame groups the series one source samples at the same instants.
CREATE TABLE frames (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    source TEXT NOT NULL,
    UNIQUE (run_id, source)
);
CREATE TABLE series (
    id INTEGER PRIMARY KEY,
    frame_id INTEGER NOT NULL REFERENCES frames(id),
    name TEXT NOT NULL,
    labels TEXT NOT NULL,            -- JSON object, keys sorted
    UNIQUE (frame_id, name, labels)
);
CREATE INDEX series_name ON series(name);
-- Sealed, compressed ticks of one frame (see iejtui.store.codec).
CREATE TABLE chunks (
    frame_id INTEGER NOT NULL REFERENCES frames(id),
    t0 REAL NOT NULL,
    t1 REAL NOT NULL,
    n INTEGER NOT NULL,
    ts BLOB NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (frame_id, t0)
) WITHOUT ROWID;
-- The newest ticks of each frame, not yet sealed into a chunk.
CREATE TABLE recent (
    frame_id INTEGER NOT NULL REFERENCES frames(id),
    ts REAL NOT NULL,
    payload BLOB NOT NULL,
    PRIMARY KEY (frame_id, ts)
) WITHOUT ROWID;

-- One benchmark request (issue: benchmark jobs).
CREATE TABLE requests (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    idx INTEGER NOT NULL,
    t_scheduled REAL,
    t_sent REAL NOT NULL,
    ttft REAL,
    e2el REAL,
    prompt_tokens INTEGER,
    output_tokens INTEGER,
    ok INTEGER NOT NULL,
    error TEXT,
    chunk_times BLOB,                -- float32 offsets from t_sent, one per streamed chunk
    PRIMARY KEY (run_id, idx)
) WITHOUT ROWID;
"""

# v2: a load search (``iejtui bench --find-max-load``) is a run of kind ``search``; each of
# its probes is a bench run whose ``search_id`` names it (``parent_id`` stays the engine run
# the probe targeted). Existing runs get NULL: they belong to no search.
SCHEMA_V2 = """
ALTER TABLE runs ADD COLUMN search_id INTEGER REFERENCES runs(id);
CREATE INDEX runs_search ON runs(search_id) WHERE search_id IS NOT NULL;
"""

MIGRATIONS: list[str] = [SCHEMA_V1, SCHEMA_V2]
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def check_readable(conn: sqlite3.Connection, path: str) -> None:
    """Refuse a journal written by a newer iejtui (reading it could misinterpret it)."""
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise UserError(
            f"{path} has schema version {version}, newer than this iejtui understands "
            f"({SCHEMA_VERSION}): upgrade iejtui (pip install -U iejtui) to open it"
        )


def migrate(conn: sqlite3.Connection, path: str) -> int:
    """Bring the database forward to SCHEMA_VERSION; returns the version found."""
    check_readable(conn, path)
    found = schema_version(conn)
    for version in range(found, SCHEMA_VERSION):
        conn.executescript("BEGIN;" + MIGRATIONS[version] + f"PRAGMA user_version = {version + 1};COMMIT;")
    return found
