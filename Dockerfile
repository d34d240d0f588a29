# KIE video bot. Build: docker build -t kie-video-bot .   Run: see README ("Docker").
FROM python:3.11-slim

# ffprobe/ffmpeg give videos their real width, height, duration and a thumbnail
# (without them 9:16 clips show up as squares in some Telegram clients).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DATABASE_PATH=/data/bot.sqlite3 \
    WEB_HOST=0.0.0.0 \
    WEB_PORT=8080

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY locales ./locales
RUN pip install --no-cache-dir -e .

RUN useradd --create-home --uid 10001 bot && mkdir -p /data && chown bot:bot /data
USER bot
VOLUME ["/data"]
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import os,sys,urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('WEB_PORT','8080'), timeout=4).status == 200 else 1)"

# SIGTERM (docker stop) shuts down cleanly: no new updates, running handlers finish.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot"]
