# storage-emulator: every emulated API and the admin API on one port (8080).
#
#   docker build -t storage-emulator .
#   docker run -p 8080:8080 -v emu-data:/data storage-emulator
#
# Runs as a non-root user; the SQLite database lives in the /data volume.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# Install the project from the build context (see .dockerignore), then drop the sources.
# The postgres extra (psycopg 3) lets replicas share a PostgreSQL database
# (EMULATOR_DATABASE_URL=postgresql+psycopg://..., see docker-compose.shared.yml).
WORKDIR /tmp/storage-emulator
COPY . .
RUN pip install --no-cache-dir "./[postgres]" \
    && rm -rf /tmp/storage-emulator

RUN groupadd --system --gid 10001 emulator \
    && useradd --system --no-log-init --uid 10001 --gid emulator \
        --home-dir /home/emulator --create-home --shell /usr/sbin/nologin emulator \
    && mkdir -p /data \
    && chown emulator:emulator /data

ENV EMULATOR_HOST=0.0.0.0 \
    EMULATOR_DATA_DIR=/data \
    EMULATOR_PORT=8080 \
    PYTHONUNBUFFERED=1

VOLUME ["/data"]
WORKDIR /data
USER 10001:10001
EXPOSE 8080

# Python's stdlib only (slim images have no curl); ignores any HTTP(S)_PROXY settings and
# follows EMULATOR_PORT if it is overridden at run time.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import json, os, sys, urllib.request as u; r = u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:%s/_emulator/health' % os.environ.get('EMULATOR_PORT', '8080'), timeout=4); sys.exit(0 if json.load(r).get('status') == 'ok' else 1)"]

CMD ["storage-emulator", "serve"]
