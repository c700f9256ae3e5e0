-- 002 (PostgreSQL): API keys shared by all replicas (hashes only, as in SQLite's keys.sqlite), with a
-- notification on every change so each replica refreshes its in-memory copy (a revoked key stops working everywhere).
CREATE TABLE api_keys (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  scope      TEXT NOT NULL CHECK (scope IN ('admin', 'recognize')),
  hash       BYTEA NOT NULL,
  created_at TEXT NOT NULL,
  revoked_at TEXT
);

CREATE FUNCTION notify_api_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('irface_keys', '');
  RETURN NULL;
END
$$;
CREATE TRIGGER api_keys_changed AFTER INSERT OR UPDATE OR DELETE ON api_keys
  FOR EACH STATEMENT EXECUTE FUNCTION notify_api_keys();
