"""The callback signature is checked before anything of the ciphertext is touched: a forged
signature over garbage (not base64, wrong key, entity bombs inside the plaintext) is a 403
with the signature's error code (-40001), never a decryption or parsing error."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from services.ingestor.app import create_app
from shared.settings import Topics
from tests.apps import running
from tests.infra import Infra
from tests.integration.test_ingestor_callback import CORP_ID, TOKEN, settings_for
from tests.kafka_helpers import read_keyed
from tests.wecom_client import WeComClient, random_aes_key

pytestmark = pytest.mark.integration

BOMB = (
    '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><xml><ToUserName>&b;</ToUserName></xml>'
)


async def test_forged_signatures_are_refused_before_decryption(
    infra: Infra, topics: Topics, tmp_path: Path
) -> None:
    key = random_aes_key()
    wecom = WeComClient(TOKEN, key, CORP_ID)
    stranger = WeComClient(TOKEN, random_aes_key(), CORP_ID)
    app = create_app(settings_for(infra, topics, tmp_path / "spool", aes_key=key))
    garbage = [
        "!!not base64!!",
        base64.b64encode(b"short").decode(),
        stranger.encrypt(b"<xml/>"),  # another corp's key: would fail decryption
        wecom.encrypt(BOMB.encode()),  # would decrypt to an entity bomb
        wecom.encrypt(b"not xml at all"),
    ]
    async with running(app) as client:
        for encrypt in garbage:
            signed = wecom.callback("<xml/>", encrypt=encrypt)
            forged = dict(signed.params, msg_signature="0" * 40)
            answer = await client.post("/wecom/callback", params=forged, content=signed.body)
            assert answer.status_code == 403, encrypt
            assert answer.json()["errcode"] == -40001, encrypt  # the signature, not decryption
            # correctly signed, the same garbage is judged on its content (400/403, never 500)
            answer = await client.post("/wecom/callback", params=signed.params, content=signed.body)
            assert answer.status_code in (400, 403) and answer.json()["errcode"] != -40001
    assert await read_keyed(infra, topics.contact_events, 0, timeout_ms=1500) == []
