"""The records tests reuse the queue tests' farm home, store and in-process CLI runner."""

from tests.queue.conftest import farm, home, pg_url, store  # noqa: F401  (pytest fixtures)
