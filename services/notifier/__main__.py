"""`python -m services.notifier` / `wecom-notifier`."""

from __future__ import annotations

from services.notifier.app import create_app
from services.notifier.settings import NotifierSettings
from shared.http import serve
from shared.logging import configure_logging, register_secrets


def main() -> None:
    settings = NotifierSettings()
    register_secrets(settings.secrets())
    configure_logging("notifier", settings.log_level)
    serve(create_app(settings), settings.notifier_port)


if __name__ == "__main__":
    main()
