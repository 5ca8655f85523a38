# The project's own image, for docker-compose's `worker` and `api` services.
# The same requirements.lock as the local virtual environment; the `brrr` console script is
# the entry point (`brrr db sink` for the compose worker, `brrr api`, `brrr stack status`
# with BRRR_STACK_MODE=external).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    BRRR_STACK_MODE=external \
    BRRR_DATA_DIR=/data

WORKDIR /app
COPY requirements.lock ./
RUN pip install -r requirements.lock
COPY . .
RUN pip install --no-deps . && mkdir -p /data

ENTRYPOINT ["brrr"]
CMD ["--help"]
