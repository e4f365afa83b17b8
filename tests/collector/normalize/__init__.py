"""Tests of the normalize processor and its per-library source mappings."""
