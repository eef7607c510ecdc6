"""Callback crypto: interop with WeCom's side (tests/wecom_client.py), Tencent's published
sample vector, and every refusal path with the sample's error code."""

from __future__ import annotations

import base64
import contextlib
import struct
from collections.abc import Callable
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingestor.wecom import (
    CallbackCrypto,
    ErrorCode,
    WeComCryptoError,
    parse_envelope,
    parse_event,
)
from tests.wecom_client import WeComClient, random_aes_key

TOKEN = "QDG6eK9sXcW3tLp0"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CORP_ID = "wwd3c6a1f0b2e4c7a9"

# Tencent's WXBizMsgCrypt sample (weworkapi_python, callback/Sample.py): its URL-verification
# GET and its encrypted POST. Checked to be self-consistent: both signatures verify and both
# plaintexts end with the sample CorpID.
SAMPLE_TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
SAMPLE_AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
SAMPLE_CORP_ID = "ww1436e0e65a779aee"
SAMPLE_VERIFY = {
    "msg_signature": "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb",
    "timestamp": "1476416373",
    "nonce": "47744683",
    "echostr": (
        "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA=="
    ),
}
SAMPLE_ECHO_PLAIN = "1288432023552776189"
SAMPLE_POST_PARAMS = {
    "msg_signature": "0c3914025cb4b4d68103f6bfc8db550f79dcf48e",
    "timestamp": "1476422779",
    "nonce": "1597212914",
}
SAMPLE_POST_BODY = (
    b"<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName>\n<Encrypt><![CDATA["
    b"Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3Nye"
    b"TkAgGzBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde"
    b"0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdk"
    b"J7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHS"
    b"GXAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+]]></Encrypt>\n"
    b"<AgentID><![CDATA[1000002]]></AgentID>\n</xml>"
)


@pytest.fixture
def ours() -> CallbackCrypto:
    return CallbackCrypto(TOKEN, AES_KEY, CORP_ID)


@pytest.fixture
def wecom() -> WeComClient:
    return WeComClient(TOKEN, AES_KEY, CORP_ID)


def code_of(exc_info: pytest.ExceptionInfo[WeComCryptoError]) -> int:
    return exc_info.value.code


# --- Tencent's published sample ---------------------------------------------------------


def test_official_sample_url_verification_answers_the_echo() -> None:
    sample = CallbackCrypto(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_CORP_ID)
    assert sample.verify_url(**SAMPLE_VERIFY) == SAMPLE_ECHO_PLAIN


def test_official_sample_post_verifies_and_decrypts() -> None:
    sample = CallbackCrypto(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_CORP_ID)
    envelope = parse_envelope(SAMPLE_POST_BODY)
    assert (envelope.to_user_name, envelope.agent_id) == (SAMPLE_CORP_ID, "1000002")
    plain = sample.decrypt_verified(encrypt=envelope.encrypt, **SAMPLE_POST_PARAMS)
    fields = parse_event(plain)
    assert fields["Content"] == "你好"
    assert fields["FromUserName"] == "ChenJiaShun"
    assert fields["CreateTime"] == SAMPLE_POST_PARAMS["timestamp"]


def test_official_sample_refused_under_another_corp() -> None:
    other = CallbackCrypto(SAMPLE_TOKEN, SAMPLE_AES_KEY, "ww0000000000000000")
    with pytest.raises(WeComCryptoError) as exc_info:
        other.verify_url(**SAMPLE_VERIFY)
    assert code_of(exc_info) == ErrorCode.CORP_ID_MISMATCH


# --- interop with WeCom's side ------------------------------------------------------------


def test_callback_from_wecom_round_trips(ours: CallbackCrypto, wecom: WeComClient) -> None:
    message = "<xml><Content><![CDATA[客户]]></Content></xml>".encode()
    callback = wecom.callback(message)
    envelope = parse_envelope(callback.body)
    assert envelope.to_user_name == CORP_ID
    assert envelope.encrypt == callback.encrypt
    assert ours.decrypt_verified(encrypt=envelope.encrypt, **callback.params) == message


def test_params_survive_url_encoding(ours: CallbackCrypto, wecom: WeComClient) -> None:
    callback = wecom.callback(b"<xml/>")
    params = dict(parse_qsl(callback.query, strict_parsing=True))
    assert ours.decrypt_verified(encrypt=callback.encrypt, **params) == b"<xml/>"


def test_our_reply_decrypts_at_wecom(ours: CallbackCrypto, wecom: WeComClient) -> None:
    reply = "<xml><Content>你好</Content></xml>".encode()
    assert wecom.decrypt(ours.encrypt(reply)) == (reply, CORP_ID)


def test_same_random_prefix_gives_the_same_ciphertext_on_both_sides(
    ours: CallbackCrypto, wecom: WeComClient
) -> None:
    random16 = bytes(range(16))
    for msg in (b"", b"x" * 9, b"y" * 32, "事件".encode() * 40):
        assert ours.encrypt(msg, random16) == wecom.encrypt(msg, random16=random16)


def test_encrypt_is_randomised_by_default(ours: CallbackCrypto) -> None:
    assert ours.encrypt(b"same") != ours.encrypt(b"same")


def test_encrypt_rejects_a_wrong_random_prefix_length(ours: CallbackCrypto) -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        ours.encrypt(b"msg", b"short")


def test_signature_matches_wecoms(ours: CallbackCrypto, wecom: WeComClient) -> None:
    assert ours.signature("1409659589", "263014780", "abc") == wecom.sign(
        "1409659589", "263014780", "abc"
    )


def test_url_verification_round_trip(ours: CallbackCrypto, wecom: WeComClient) -> None:
    request = wecom.url_verification()
    params = dict(parse_qsl(request.query, strict_parsing=True))
    answer = ours.verify_url(**params)
    assert answer == request.expected_answer
    assert answer.isdigit()  # no quotes, BOM or newline to strip before answering


def test_url_verification_with_forged_signature(ours: CallbackCrypto, wecom: WeComClient) -> None:
    params = wecom.url_verification().params
    params["msg_signature"] = "0" * 40
    with pytest.raises(WeComCryptoError) as exc_info:
        ours.verify_url(**params)
    assert code_of(exc_info) == ErrorCode.SIGNATURE


def test_corp_id_property_and_repr_hide_secrets(ours: CallbackCrypto) -> None:
    assert ours.corp_id == CORP_ID
    assert TOKEN not in repr(ours)
    assert AES_KEY not in repr(ours)


# --- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tamper",
    ["msg_signature", "timestamp", "nonce", "encrypt", "token", "uppercase", "empty"],
)
def test_forged_signature_is_refused(ours: CallbackCrypto, wecom: WeComClient, tamper: str) -> None:
    callback = wecom.callback(b"<xml/>")
    args = {**callback.params, "encrypt": callback.encrypt}
    if tamper == "token":
        impostor = WeComClient("other-token", AES_KEY, CORP_ID)
        args["msg_signature"] = impostor.sign(args["timestamp"], args["nonce"], args["encrypt"])
    elif tamper == "uppercase":
        args["msg_signature"] = args["msg_signature"].upper()
    elif tamper == "empty":
        args["msg_signature"] = ""
    elif tamper == "encrypt":
        args["encrypt"] = wecom.encrypt(b"<xml>other</xml>")
    else:
        args[tamper] = args[tamper][:-1] + ("1" if args[tamper][-1] != "1" else "2")
    with pytest.raises(WeComCryptoError) as exc_info:
        ours.decrypt_verified(**args)
    assert code_of(exc_info) == ErrorCode.SIGNATURE


def test_wrong_corp_id_is_refused(ours: CallbackCrypto) -> None:
    other_corp = WeComClient(TOKEN, AES_KEY, "wwffffffffffffffff")
    with pytest.raises(WeComCryptoError) as exc_info:
        ours.decrypt(other_corp.encrypt(b"<xml/>"))
    assert code_of(exc_info) == ErrorCode.CORP_ID_MISMATCH


@pytest.mark.parametrize("receive_id", ["", CORP_ID[:-1], CORP_ID + "x", CORP_ID.upper()])
def test_receive_id_must_match_exactly(
    ours: CallbackCrypto, wecom: WeComClient, receive_id: str
) -> None:
    with pytest.raises(WeComCryptoError) as exc_info:
        ours.decrypt(wecom.encrypt(b"<xml/>", receive_id=receive_id))
    assert code_of(exc_info) == ErrorCode.CORP_ID_MISMATCH


def test_wrong_key_is_refused(ours: CallbackCrypto) -> None:
    stranger = WeComClient(TOKEN, random_aes_key(), CORP_ID)
    with pytest.raises(WeComCryptoError) as exc_info:
        ours.decrypt(stranger.encrypt(b"<xml>hello</xml>"))
    assert code_of(exc_info) in (ErrorCode.DECRYPT, ErrorCode.CORP_ID_MISMATCH)


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda s: s[:-1], id="truncated"),
        pytest.param(lambda s: s[:-3], id="truncated-more"),
        pytest.param(lambda s: s[:10] + "!" + s[11:], id="bad-character"),
        pytest.param(lambda s: s[:10] + "\n" + s[10:], id="newline-inside"),
        pytest.param(lambda s: s + "=", id="extra-padding"),
        pytest.param(lambda s: s[:10] + "é" + s[11:], id="non-ascii"),
    ],
)
def test_bad_base64_is_refused(
    ours: CallbackCrypto, wecom: WeComClient, mangle: Callable[[str], str]
) -> None:
    with pytest.raises(WeComCryptoError) as exc_info:
        ours.decrypt(mangle(wecom.encrypt(b"<xml>hello</xml>")))
    assert code_of(exc_info) == ErrorCode.BASE64_DECODE


@pytest.mark.parametrize("length", [0, 1, 15, 17, 31, 33, 63])
def test_ciphertext_not_a_multiple_of_16_is_refused(ours: CallbackCrypto, length: int) -> None:
    with pytest.raises(WeComCryptoError) as exc_info:
        ours.decrypt(base64.b64encode(b"\x5a" * length).decode())
    assert code_of(exc_info) == ErrorCode.DECRYPT


def _padded_with(frame: bytes, tail: bytes) -> bytes:
    """`frame` filled with zeros so that, with `tail` appended, it is a multiple of 32."""
    fill = -(len(frame) + len(tail)) % 32
    return frame + b"\x00" * fill + tail


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param(b"\x00", id="padding-value-0"),
        pytest.param(b"\x21", id="padding-value-33"),
        pytest.param(b"\xff", id="padding-value-255"),
        pytest.param(b"\x01\x02\x04\x04\x04", id="padding-bytes-differ"),
        pytest.param(b"\x05" * 4 + b"\x07" * 1, id="padding-longer-than-run"),
    ],
)
def test_bad_padding_is_refused(ours: CallbackCrypto, wecom: WeComClient, tail: bytes) -> None:
    forged = wecom.encrypt_raw(_padded_with(wecom.frame(b"<xml/>"), tail))
    with pytest.raises(WeComCryptoError) as exc_info:
        ours.decrypt(forged)
    assert code_of(exc_info) == ErrorCode.DECRYPT


def test_padding_longer_than_the_data_is_refused(ours: CallbackCrypto, wecom: WeComClient) -> None:
    forged = wecom.encrypt_raw(b"\x20" * 16)  # says 32 bytes of padding in a 16-byte message
    with pytest.raises(WeComCryptoError) as exc_info:
        ours.decrypt(forged)
    assert code_of(exc_info) == ErrorCode.DECRYPT


@pytest.mark.parametrize("plain_length", [0, 1, 16, 19])
def test_plaintext_shorter_than_its_header_is_refused(
    ours: CallbackCrypto, wecom: WeComClient, plain_length: int
) -> None:
    amount = 32 - plain_length % 32
    forged = wecom.encrypt_raw(b"r" * plain_length + bytes([amount]) * amount)
    with pytest.raises(WeComCryptoError) as exc_info:
        ours.decrypt(forged)
    assert code_of(exc_info) == ErrorCode.DECRYPT


@pytest.mark.parametrize("declared", [len(CORP_ID) + 7, 2**32 - 1])
def test_message_length_beyond_the_plaintext_is_refused(
    ours: CallbackCrypto, wecom: WeComClient, declared: int
) -> None:
    frame = b"r" * 16 + struct.pack(">I", declared) + b"<xml/>" + CORP_ID.encode()
    amount = 32 - len(frame) % 32
    with pytest.raises(WeComCryptoError) as exc_info:
        ours.decrypt(wecom.encrypt_raw(frame + bytes([amount]) * amount))
    assert code_of(exc_info) == ErrorCode.DECRYPT


def test_message_length_eating_the_receive_id_is_a_corp_mismatch(
    ours: CallbackCrypto, wecom: WeComClient
) -> None:
    frame = b"r" * 16 + struct.pack(">I", 6 + len(CORP_ID)) + b"<xml/>" + CORP_ID.encode()
    amount = 32 - len(frame) % 32
    with pytest.raises(WeComCryptoError) as exc_info:
        ours.decrypt(wecom.encrypt_raw(frame + bytes([amount]) * amount))
    assert code_of(exc_info) == ErrorCode.CORP_ID_MISMATCH


def test_non_utf8_echo_is_refused(ours: CallbackCrypto, wecom: WeComClient) -> None:
    echostr = wecom.encrypt(b"\xff\xfe")
    params = {"timestamp": "1", "nonce": "2", "echostr": echostr}
    with pytest.raises(WeComCryptoError) as exc_info:
        ours.verify_url(msg_signature=wecom.sign("1", "2", echostr), **params)
    assert code_of(exc_info) == ErrorCode.DECRYPT


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("", id="empty"),
        pytest.param(AES_KEY[:-1], id="42-chars"),
        pytest.param(AES_KEY + "A", id="44-chars"),
        pytest.param(AES_KEY[:-1] + "=", id="padding-char"),
        pytest.param(AES_KEY[:-1] + "-", id="urlsafe-char"),
        pytest.param(AES_KEY[:-1] + "é", id="non-ascii"),
        pytest.param(" " + AES_KEY[:-1], id="space"),
    ],
)
def test_bad_aes_key_is_refused_at_construction(key: str) -> None:
    with pytest.raises(WeComCryptoError) as exc_info:
        CallbackCrypto(TOKEN, key, CORP_ID)
    assert code_of(exc_info) == ErrorCode.ILLEGAL_AES_KEY
    if key:
        assert key not in str(exc_info.value)


def test_errors_never_reveal_token_or_key(ours: CallbackCrypto, wecom: WeComClient) -> None:
    callback = wecom.callback(b"<xml/>")
    attempts: list[Callable[[], object]] = [
        lambda: ours.decrypt_verified("0" * 40, "1", "2", callback.encrypt),
        lambda: ours.decrypt("!!!"),
        lambda: ours.decrypt(base64.b64encode(b"x" * 17).decode()),
        lambda: ours.decrypt(WeComClient(TOKEN, AES_KEY, "other").encrypt(b"x")),
        lambda: CallbackCrypto(TOKEN, AES_KEY[:-1], CORP_ID),
    ]
    for attempt in attempts:
        with pytest.raises(WeComCryptoError) as exc_info:
            attempt()
        text = f"{exc_info.value} {exc_info.value!r} {exc_info.value.detail}"
        assert TOKEN not in text
        assert AES_KEY not in text
        assert AES_KEY[:-1] not in text


def test_error_codes_are_the_samples() -> None:
    assert {code.name: int(code) for code in ErrorCode} == {
        "SIGNATURE": -40001,
        "PARSE_XML": -40002,
        "ILLEGAL_AES_KEY": -40004,
        "CORP_ID_MISMATCH": -40005,
        "DECRYPT": -40007,
        "BASE64_DECODE": -40010,
    }


# --- properties -----------------------------------------------------------------------------


@settings(deadline=None)
@given(st.text())
def test_any_text_as_encrypt_only_raises_crypto_errors(text: str) -> None:
    crypto = CallbackCrypto(TOKEN, AES_KEY, CORP_ID)
    with contextlib.suppress(WeComCryptoError):
        crypto.decrypt(text)


@settings(deadline=None)
@given(st.binary(max_size=512))
def test_any_ciphertext_only_raises_crypto_errors(data: bytes) -> None:
    crypto = CallbackCrypto(TOKEN, AES_KEY, CORP_ID)
    with contextlib.suppress(WeComCryptoError):
        crypto.decrypt(base64.b64encode(data).decode())


@settings(deadline=None)
@given(st.binary(max_size=512))
def test_any_plaintext_block_only_raises_crypto_errors(data: bytes) -> None:
    """Random plaintexts (a multiple of 16) reach the padding and framing checks."""
    wecom = WeComClient(TOKEN, AES_KEY, CORP_ID)
    crypto = CallbackCrypto(TOKEN, AES_KEY, CORP_ID)
    plain = data + b"\x00" * (-len(data) % 16)
    with contextlib.suppress(WeComCryptoError):
        crypto.decrypt(wecom.encrypt_raw(plain or b"\x00" * 16))


@settings(deadline=None)
@given(st.text(), st.text(), st.text(), st.text())
def test_any_signature_inputs_only_raise_crypto_errors(
    signature: str, timestamp: str, nonce: str, encrypt: str
) -> None:
    crypto = CallbackCrypto(TOKEN, AES_KEY, CORP_ID)
    with contextlib.suppress(WeComCryptoError):
        crypto.decrypt_verified(signature, timestamp, nonce, encrypt)


@settings(deadline=None)
@given(st.text(), st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=40))
def test_unicode_messages_round_trip(message: str, corp_id: str) -> None:
    wecom = WeComClient(TOKEN, AES_KEY, corp_id)
    crypto = CallbackCrypto(TOKEN, AES_KEY, corp_id)
    data = message.encode("utf-8")
    callback = wecom.callback(data)
    assert crypto.decrypt_verified(encrypt=callback.encrypt, **callback.params) == data
    assert wecom.decrypt(crypto.encrypt(data)) == (data, corp_id)


@settings(deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8")))
def test_unicode_echo_round_trips(echo: str) -> None:
    wecom = WeComClient(TOKEN, AES_KEY, CORP_ID)
    request = wecom.url_verification(echo)
    assert CallbackCrypto(TOKEN, AES_KEY, CORP_ID).verify_url(**request.params) == echo
