# One image for the three services; the compose file picks the module to run.
FROM python:3.11-slim
WORKDIR /app
# The runtime dependencies from the lock (exact versions, hashes checked, wheels only; `make lock`
# writes it from pyproject.toml), then the project itself without dependencies: setuptools, its
# build backend, is in the lock too.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes --no-deps --only-binary :all: -r requirements.lock
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
# the simulator and the local WeCom stand-ins of the demo (`python -m tools.simulator`)
COPY tools ./tools
RUN pip install --no-cache-dir --no-deps --no-build-isolation . && useradd --system --uid 10001 app \
    && mkdir -p /var/lib/wecom-quota && chown app /var/lib/wecom-quota
USER app
ENTRYPOINT ["python", "-m"]
