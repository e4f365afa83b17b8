# Multi-stage build of the Glassline images from this repository's own packages.
#   docker build --target collector -t glassline-collector .
#   docker build --target dashboard -t glassline-dashboard .
#   docker build --target example   -t glassline-example .

FROM python:3.11-slim AS wheels
WORKDIR /src
RUN pip install --no-cache-dir build
COPY semconv/ semconv/
COPY pricing/ pricing/
COPY instrumentation/ instrumentation/
COPY redaction/ redaction/
COPY collector/ collector/
COPY dashboard/ dashboard/
RUN for pkg in semconv pricing instrumentation redaction collector dashboard; do \
        python -m build --wheel --outdir /wheels "$pkg"; \
    done

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN useradd --create-home --uid 10001 glassline
WORKDIR /app

FROM base AS collector
COPY --from=wheels /wheels /wheels
RUN pip install /wheels/glassline_semconv-*.whl /wheels/glassline_pricing-*.whl \
        /wheels/glassline_redaction-*.whl /wheels/glassline_collector-*.whl && rm -rf /wheels
USER glassline
EXPOSE 4317 4318
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:4318/readyz', timeout=2)"
ENTRYPOINT ["glassline-collector"]
CMD ["--config", "/etc/glassline/collector.yaml"]

FROM base AS dashboard
COPY --from=wheels /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels
USER glassline
EXPOSE 8501
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=2)"
ENTRYPOINT ["glassline-dashboard"]

FROM base AS example
COPY --from=wheels /wheels /wheels
RUN pip install /wheels/glassline_semconv-*.whl /wheels/glassline_pricing-*.whl \
        /wheels/glassline_instrumentation-*.whl "openai>=1.40" && rm -rf /wheels
COPY examples/ examples/
USER glassline
ENTRYPOINT ["python", "-m", "examples.rag_app"]
