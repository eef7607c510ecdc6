"""The SMTP stand-in for the tests; it lives in tools.mail_standin so that the local stack's
stand-in (tools/wecom_standin.py) receives mail the same way."""

from tools.mail_standin import SmtpStandIn, smtp_standin

__all__ = ["SmtpStandIn", "smtp_standin"]
