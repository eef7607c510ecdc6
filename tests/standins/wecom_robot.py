"""The WeCom robot/app stand-in for the tests; it lives in tools.wecom.robot_standin so that
the local stack's stand-in (tools/wecom_standin.py) serves the same answers."""

from tools.wecom.robot_standin import (
    IMAGE_LIMIT,
    MARKDOWN_LIMIT,
    RobotMessage,
    WeComStandIn,
    wecom_standin,
)

__all__ = ["IMAGE_LIMIT", "MARKDOWN_LIMIT", "RobotMessage", "WeComStandIn", "wecom_standin"]
