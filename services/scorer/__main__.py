"""`python -m services.scorer` / `wecom-scorer`."""

from __future__ import annotations

from services.scorer.app import create_app
from services.scorer.settings import ScorerSettings
from shared.http import serve
from shared.logging import configure_logging, register_secrets


def main() -> None:
    settings = ScorerSettings()
    register_secrets(settings.secrets())
    configure_logging("scorer", settings.log_level)
    serve(create_app(settings), settings.scorer_port)


if __name__ == "__main__":
    main()
