# marsad image: the pipeline with Prefect, used by docker-compose.yml for the server and worker.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false

WORKDIR /app
COPY pyproject.toml README.md ./
COPY flows ./flows
COPY extractors ./extractors
COPY warehouse ./warehouse
COPY marsad.toml prefect.yaml ./
# pip new enough to resolve trafilatura's lxml_html_clean
RUN python -m pip install --upgrade pip && python -m pip install .

VOLUME ["/data"]
CMD ["marsad", "--help"]
