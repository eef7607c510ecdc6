"""WeCom's callback side for the tests; it lives in tools.wecom.client so that the simulator
and the evaluation send the same callbacks without importing the tests."""

from tools.wecom.client import (
    DEFAULT_AGENT_ID,
    Callback,
    UrlVerification,
    WeComClient,
    cdata,
    random_aes_key,
    random_digits,
)

__all__ = [
    "DEFAULT_AGENT_ID",
    "Callback",
    "UrlVerification",
    "WeComClient",
    "cdata",
    "random_aes_key",
    "random_digits",
]
