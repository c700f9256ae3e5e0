-- 001: identities, their faces, one class center per identity, and gallery metadata.

-- label is the internal id and the identity's label in the HNSW index. AUTOINCREMENT guarantees a deleted
-- identity's label is never handed to a new identity, so a stale index entry can never match someone else.
CREATE TABLE identities (
  label       INTEGER PRIMARY KEY AUTOINCREMENT,
  id          TEXT NOT NULL UNIQUE,
  name        TEXT NOT NULL,
  external_id TEXT UNIQUE,
  metadata    TEXT CHECK (metadata IS NULL OR json_valid(metadata)),
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL
);

-- embedding: little-endian float32 (dim,) as the model produced it. crop: aligned face JPEG, kept so a
-- future model can re-embed. seq orders faces for resumable iteration (reindex).
CREATE TABLE faces (
  seq            INTEGER PRIMARY KEY AUTOINCREMENT,
  id             TEXT NOT NULL UNIQUE,
  identity_label INTEGER NOT NULL REFERENCES identities(label) ON DELETE CASCADE,
  embedding      BLOB NOT NULL,
  model_id       TEXT NOT NULL,
  det_score      REAL NOT NULL,
  box            TEXT NOT NULL CHECK (json_valid(box)),
  image_sha256   TEXT NOT NULL,
  crop           BLOB,
  created_at     TEXT NOT NULL
);
-- One face per image per identity: enrolling the same image twice would double its weight in the center.
CREATE UNIQUE INDEX faces_identity_image ON faces(identity_label, image_sha256);

-- sum: float32 sum of the L2-normalised face embeddings; center: normalise(sum). No row = no faces.
CREATE TABLE centers (
  identity_label INTEGER PRIMARY KEY REFERENCES identities(label) ON DELETE CASCADE,
  sum            BLOB NOT NULL,
  count          INTEGER NOT NULL CHECK (count > 0),
  center         BLOB NOT NULL
);

CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

INSERT INTO meta (key, value) VALUES ('state_version', '0');
