-- 001 (PostgreSQL): the same gallery as SQLite's 001+002, plus the center change log that keeps replicas' indexes in step.

-- label: internal id and the identity's label in every replica's HNSW index; an identity column never hands
-- a deleted identity's label to a new one, so a stale index entry can never match someone else.
CREATE TABLE identities (
  label       INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id          TEXT NOT NULL UNIQUE,
  name        TEXT NOT NULL,
  external_id TEXT CONSTRAINT identities_external_id_key UNIQUE,
  metadata    JSON, -- json, not jsonb: the client's object comes back exactly as sent (key order included)
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL
);

-- embedding: little-endian float32 (dim,) as the model produced it; crop: aligned face JPEG kept for reindex.
CREATE TABLE faces (
  seq            INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id             TEXT NOT NULL UNIQUE,
  identity_label INTEGER NOT NULL REFERENCES identities(label) ON DELETE CASCADE,
  embedding      BYTEA NOT NULL,
  model_id       TEXT NOT NULL,
  det_score      DOUBLE PRECISION NOT NULL,
  box            JSON NOT NULL,
  image_sha256   TEXT NOT NULL,
  crop           BYTEA,
  created_at     TEXT NOT NULL,
  UNIQUE (identity_label, image_sha256)
);

-- sum: float32 sum of the L2-normalised face embeddings; center: normalise(sum). No row = no faces.
CREATE TABLE centers (
  identity_label INTEGER PRIMARY KEY REFERENCES identities(label) ON DELETE CASCADE,
  sum            BYTEA NOT NULL,
  count          INTEGER NOT NULL CHECK (count > 0),
  center         BYTEA NOT NULL
);

CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('state_version', '0');

CREATE TABLE reindex_staging (
  face_id   TEXT PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
  model_id  TEXT NOT NULL,
  embedding BYTEA NOT NULL
);

-- The change log: one row per change of a center (insert, update, delete, cascades included), written by a
-- trigger in the changing transaction. It holds labels only (no vector, no personal data): a replica reads the
-- label's current center when it applies the entry. The sequence comes from a single counter row that the
-- trigger updates; its row lock is held until commit, so entries become visible strictly in sequence order
-- and a replica that has applied seq N has seen every change up to N (a bigserial could commit out of order).
CREATE TABLE center_log (
  seq   BIGINT PRIMARY KEY,
  label INTEGER NOT NULL
);
CREATE TABLE center_log_head (
  one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
  seq BIGINT NOT NULL
);
INSERT INTO center_log_head (seq) VALUES (0);

CREATE FUNCTION log_center_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  next_seq BIGINT;
BEGIN
  UPDATE center_log_head SET seq = seq + 1 RETURNING seq INTO next_seq;
  INSERT INTO center_log (seq, label) VALUES (next_seq, CASE WHEN TG_OP = 'DELETE' THEN OLD.identity_label ELSE NEW.identity_label END);
  -- Same payload every time: PostgreSQL folds duplicates within a transaction into one wake-up at commit.
  PERFORM pg_notify('irface_centers', '');
  RETURN NULL;
END
$$;
CREATE TRIGGER centers_change_log AFTER INSERT OR UPDATE OR DELETE ON centers
  FOR EACH ROW EXECUTE FUNCTION log_center_change();
