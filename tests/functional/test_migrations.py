"""The migrations are the schema: one head, and nothing in the models that they lack."""
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import Migrate

from caseflow.extensions import db as _db


def test_single_head(app):
    config = app.extensions["migrate"].migrate.get_config()
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_models_and_migrations_agree(db):
    # The test database was built by running the migrations (see conftest); autogenerate must find nothing.
    with _db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, _db.metadata) == []


def test_migrate_extension_points_at_the_repository_migrations(app):
    migrate: Migrate = app.extensions["migrate"].migrate
    assert migrate.directory.endswith("migrations")
