-- gphotosd schema, version 1.
-- One row per file path seen under a watched folder. `state` is the file's place in the
-- pipeline (DESIGN §3); the columns after it are what each state needs to survive a crash.

CREATE TABLE files (
    id              INTEGER PRIMARY KEY,
    -- The path's raw bytes (Unix paths need not be UTF-8).
    path            BLOB    NOT NULL UNIQUE,
    -- Index of the [[watch]] entry the file was found under (1-based, as in messages).
    watch_index     INTEGER NOT NULL,
    -- Album title the file goes to; NULL means the library only.
    album_title     TEXT,
    size            INTEGER NOT NULL,
    mtime_ns        INTEGER NOT NULL,
    inode           INTEGER NOT NULL,
    -- BLAKE3 of the content, once read.
    content_hash    BLOB,
    mime_type       TEXT,
    state           TEXT    NOT NULL CHECK (state IN
                        ('pending', 'uploading', 'uploaded', 'creating', 'done',
                         'skipped', 'failed', 'waiting')),
    reason          TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- Unix seconds; set for 'waiting'.
    next_attempt_at INTEGER,
    -- Resumable session, stored before the first byte is sent.
    session_url     TEXT,
    session_granularity INTEGER,
    -- Bytes the server confirmed or that were last streamed (progress, not truth: after a
    -- crash the server's `query` answer wins).
    bytes_sent      INTEGER NOT NULL DEFAULT 0,
    upload_token    TEXT,
    upload_token_at INTEGER,
    media_item_id   TEXT,
    product_url     TEXT,
    -- Set when the content was already uploaded under another path.
    alias_of        INTEGER REFERENCES files (id),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE INDEX files_by_state ON files (state, next_attempt_at);
CREATE INDEX files_by_hash ON files (content_hash) WHERE content_hash IS NOT NULL;
CREATE INDEX files_by_size ON files (size);

-- Albums this app created, by title.
CREATE TABLE albums (
    title      TEXT    PRIMARY KEY,
    album_id   TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

-- Requests sent to Google per Pacific day, counted before each request is sent.
CREATE TABLE request_ledger (
    day      TEXT    PRIMARY KEY,
    requests INTEGER NOT NULL
);

-- What the running daemon tells `gphotosd status`: one row.
CREATE TABLE daemon (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    pid           INTEGER,
    version       TEXT,
    started_at    INTEGER,
    heartbeat_at  INTEGER,
    pause_reason  TEXT,
    pause_message TEXT,
    pause_until   INTEGER
);
INSERT INTO daemon (id) VALUES (1);
