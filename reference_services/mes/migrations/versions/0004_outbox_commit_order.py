"""outbox rows appended without a lock take their id at the commit

Revision ID: 0004_outbox_commit_order
Revises: 0003_screens

A row inserted with a provisional (negative) id gets its real id from a deferred constraint
trigger: at the commit it takes the outbox append lock (`platform.outbox.APPEND_LOCK`), which the
transaction keeps to the end of its commit, and moves the row to the next id of the table's
sequence. Ids so follow commit order without the lock being held across the client's round
trips (see `reference_services.platform.outbox`).
"""

from alembic import op

revision = "0004_outbox_commit_order"
down_revision = "0003_screens"
branch_labels = None
depends_on = None

APPEND_LOCK = 0x6F7574626F78  # platform.outbox.APPEND_LOCK when this migration was written


def upgrade() -> None:
    op.execute(
        f"""CREATE FUNCTION outbox_take_commit_place() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock({APPEND_LOCK:d});
    UPDATE outbox SET id = nextval('outbox_id_seq') WHERE id = NEW.id;
    RETURN NULL;
END
$$"""
    )
    op.execute(
        """CREATE CONSTRAINT TRIGGER outbox_commit_order AFTER INSERT ON outbox
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.id < 0)
    EXECUTE FUNCTION outbox_take_commit_place()"""
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER outbox_commit_order ON outbox")
    op.execute("DROP FUNCTION outbox_take_commit_place()")
