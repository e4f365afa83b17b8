"""Alembic migrations of the store (script location ``glassline.collector:migrations``).

Revisions create tables with explicit ``op`` calls and never import the app's models, so an
old revision keeps meaning what it meant when it was written.
"""
