# Touchpoint served by gunicorn with several workers; docker-compose.yml points it at a ClickHouse server.
# Several workers need a server: with the embedded engine (chdb://…) run --workers 1.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 touchpoint
WORKDIR /srv/touchpoint

# Only what the server needs: the packages and the files pyproject.toml names.
COPY pyproject.toml README.md ./
COPY app ./app
COPY collectors ./collectors
COPY blueprints ./blueprints
COPY alerts ./alerts
RUN pip install . "gunicorn==27.0.1"

USER touchpoint
ENV TOUCHPOINT_BLUEPRINTS=/srv/touchpoint/blueprints/maps \
    TOUCHPOINT_RULES=/srv/touchpoint/alerts/rules
EXPOSE 8050
CMD ["gunicorn", "-c", "python:app.wsgi", "--workers", "3", "--bind", "0.0.0.0:8050"]
