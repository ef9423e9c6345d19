-- "All loans" pages newest first by (requested_at, id) with a cursor: read in index order
-- instead of sorting every loan for each page.
CREATE INDEX loans_requested_idx ON loans (requested_at DESC, id DESC);
