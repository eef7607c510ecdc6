# One image for the three services; the compose file picks the module to run.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
RUN pip install --no-cache-dir . && useradd --system --uid 10001 app \
    && mkdir -p /var/lib/wecom-quota && chown app /var/lib/wecom-quota
USER app
ENTRYPOINT ["python", "-m"]
