"""Glassline dashboard: a read-only Streamlit app on the collector's store.

Run it with ``glassline-dashboard --db URL``. The pages live in ``views/``; the queries behind
them are plain SQLAlchemy functions in :mod:`glassline.dashboard.queries`.
"""

from __future__ import annotations

from glassline.dashboard.db import DatabaseUnavailable, make_engine
from glassline.dashboard.window import Window

__all__ = ["DatabaseUnavailable", "Window", "make_engine"]
