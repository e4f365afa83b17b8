"""The Glassline vocabulary, shared by the SDK, the collector and the dashboard.

:mod:`glassline.semconv.attributes` spells every attribute name once. This distribution has
no dependencies, so reading the names never pulls in the OpenTelemetry SDK.
"""
