"""Alembic environment: runs migrations against the URL the node configured."""

from alembic import context
from sqlalchemy import create_engine

from hutong.db import load_models

config = context.config
target_metadata = load_models()


def run() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
