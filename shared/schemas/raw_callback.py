"""WeCom callbacks that are not contact changes this product scores (`wecom.raw-events.v1`):
kept whole, so nothing WeCom sent is lost (docs/wecom.md section 1). Nothing consumes them yet."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field

from shared.schemas.base import Message

RAW_TYPE: Final = "wecom_raw_callback"


class RawCallback(Message):
    type: Literal["wecom_raw_callback"] = RAW_TYPE
    event_id: str = Field(
        min_length=1, max_length=200, description="`wecom-raw:` and the retry-stable dedup key."
    )
    corp_id: str = Field(description="`ToUserName`: the bank's CorpID.")
    msg_type: str = Field(description="`MsgType`.")
    event: str | None = Field(description="`Event`, when the callback has one.")
    change_type: str | None = Field(description="`ChangeType`, when the callback has one.")
    reason: str = Field(description="Why it is kept here rather than scored.")
    fields: dict[str, str] = Field(description="Every field of the callback, as WeCom sent it.")
