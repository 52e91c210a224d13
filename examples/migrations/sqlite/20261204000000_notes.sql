-- The notes table. `IF NOT EXISTS`: a database file made before migrations existed already has it.
CREATE TABLE IF NOT EXISTS notes (
    id    INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    body  TEXT NOT NULL
);
