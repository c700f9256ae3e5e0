-- 002: staging area for `irface reindex`: new-model embeddings wait here until the switch commits at once.
CREATE TABLE reindex_staging (
  face_id   TEXT PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
  model_id  TEXT NOT NULL,
  embedding BLOB NOT NULL
) WITHOUT ROWID;
