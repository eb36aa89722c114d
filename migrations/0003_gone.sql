-- gphotosd schema, version 3: files that left the watched folders; where an upload
-- (re)started.

-- Unix seconds when a file in an end state (done, skipped, failed) was found missing from
-- its path: moved or renamed away, deleted, or moved by `after_upload`. The row stays (its
-- content hash still proves an upload, so the same bytes elsewhere become an alias, not a
-- second upload), but `status` no longer counts or lists it. NULL while the file is there;
-- cleared when it comes back.
ALTER TABLE files ADD COLUMN gone_at INTEGER;

-- Bytes the server already held when the current upload attempt started (0, or the offset
-- a resumed session continues from), so `status` reports the rate of this attempt, not
-- bytes sent before a restart divided by the time since it.
ALTER TABLE files ADD COLUMN start_offset INTEGER NOT NULL DEFAULT 0;
