"""OTLP logs ingest for GenAI events: decode (``decode``), turn events into messages
(``events``), redact and store them next to and into their spans (``consume``).

Kept free of imports so the store can use ``events`` without loading the ingest side.
"""
