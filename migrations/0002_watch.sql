-- gphotosd schema, version 2: the watcher.

-- How each watched folder is watched right now, for `gphotosd status`. Rewritten by the
-- daemon when it starts and whenever a folder's state changes.
CREATE TABLE watch_roots (
    -- The folder's raw path bytes.
    path        BLOB    PRIMARY KEY,
    -- Index of its [[watch]] entry (1-based).
    watch_index INTEGER NOT NULL,
    -- 'native' (inotify), 'poll', or 'scan' (only the periodic scans find new files).
    mode        TEXT    NOT NULL CHECK (mode IN ('native', 'poll', 'scan')),
    healthy     INTEGER NOT NULL,
    message     TEXT,
    updated_at  INTEGER NOT NULL
);

-- What to do with the file once it is done: NULL keeps it, 'delete', or 'move:<folder>'.
-- Decided when the file is queued (a config change never reaches files uploaded before),
-- cleared once done.
ALTER TABLE files ADD COLUMN after_upload TEXT;
CREATE INDEX files_after_upload ON files (state) WHERE after_upload IS NOT NULL;
