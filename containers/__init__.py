"""The reference application, run by ``haraka run containers.app:Application``.

- :mod:`containers.services`: the database Resource (SQLAlchemy's async
  engine; SQLite through aiosqlite by default, any SQLAlchemy URL through
  ``config.db.url``), the plain repository that queries it, a cache that warms
  up in the background, and a periodic worker.
- :mod:`containers.app`: the FastAPI API (CRUD on ``/items``) and the
  ``Application`` container that wires everything, served by a managed uvicorn.
"""
