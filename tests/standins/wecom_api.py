"""The WeCom REST API stand-in for the tests; it lives in tools.wecom.api_standin so that the
evaluation enriches through the same server without importing the tests."""

from tools.wecom.api_standin import Contact, Follow, WeComApiStandIn, build_app, wecom_api

__all__ = ["Contact", "Follow", "WeComApiStandIn", "build_app", "wecom_api"]
