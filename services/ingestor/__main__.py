"""`python -m services.ingestor` / `wecom-ingestor`."""

from __future__ import annotations

from services.ingestor.app import create_app
from services.ingestor.settings import IngestorSettings
from shared.http import serve
from shared.logging import configure_logging, register_secrets


def main() -> None:
    settings = IngestorSettings()
    register_secrets(settings.secrets())
    configure_logging("ingestor", settings.log_level)
    serve(create_app(settings), settings.ingestor_port)


if __name__ == "__main__":
    main()
