"""A new filing's search row is written by the database itself, with the filing.

Intake wrote it with a statement of its own (three on SQLite, with the FTS5 row); an AFTER INSERT
trigger on ``filings`` now writes the subject and body there, in the same statement as the filing.
OCR text is added later by the application, as before (``oficialia.search.index_filing``).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-21 19:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

# "\n".join(p for p in (subject, body) if p), as search.py composes it
_POSTGRES_CONTENT = "concat_ws(E'\\n', NULLIF(NEW.subject, ''), NULLIF(NEW.body, ''))"
_SQLITE_CONTENT = ("CASE WHEN NEW.subject <> '' AND NEW.body <> '' THEN NEW.subject || char(10) || NEW.body "
                   "ELSE coalesce(NULLIF(NEW.subject, ''), NULLIF(NEW.body, ''), '') END")


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION filing_search_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO filing_search (filing_id, content) VALUES (NEW.id, {_POSTGRES_CONTENT});
                RETURN NULL;
            END $$""")
        op.execute("CREATE TRIGGER filing_search_on_insert AFTER INSERT ON filings "
                   "FOR EACH ROW EXECUTE FUNCTION filing_search_on_insert()")
    else:
        op.execute(f"""
            CREATE TRIGGER filing_search_on_insert AFTER INSERT ON filings BEGIN
                INSERT INTO filing_search (filing_id, content) VALUES (NEW.id, {_SQLITE_CONTENT});
                DELETE FROM filing_fts WHERE rowid = NEW.id;
                INSERT INTO filing_fts (rowid, content) VALUES (NEW.id, {_SQLITE_CONTENT});
            END""")


def downgrade():
    op.execute("DROP TRIGGER IF EXISTS filing_search_on_insert" +
               (" ON filings" if op.get_bind().dialect.name == "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS filing_search_on_insert()")
