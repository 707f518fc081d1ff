"""NextJoy request signing and the 18xxx codes of a refused call (README: NextJoy request
signature; nextjoy-upload-token.md error table)."""

from __future__ import annotations

import json

import pytest

from emulator.apis.nextjoy.auth import compute_sign, string_to_sign

DOC_TS = 1525756883
# Computed by hand (printf '...' | md5sum), not by the code under test.
HAND_SIGN_GET = "2BB8207F562FAB86219CF9D62FEBF083"  # appid|1001#child_id|1000#timestamp|1525756883#<secret>
HAND_SIGN_KEYSTR = "07682FE55F37F9B821A3ABC309A3B17A"  # ...#keystr|a.png,b/c.png#...
HAND_SIGN_LIST = "F033030138E100A757927143417AE084"  # ...#marker|#prefix|#...
BASE = {"appid": "1001", "child_id": "1000", "timestamp": str(DOC_TS)}


def body_of(r):
    assert r.status_code == 200
    return r.json()


def last_journal(client):
    return client.get("/_emulator/requests", params={"api": "nextjoy"}).json()[-1]


# -- the signature itself --------------------------------------------------------------


def test_string_to_sign_sorts_names_and_joins_name_bar_value_hash():
    params = {"timestamp": "1", "appid": "1001", "sign": "ignored", "child_id": "1000", "keystr": "a,b"}
    assert string_to_sign(params) == "appid|1001#child_id|1000#keystr|a,b#timestamp|1#"


def test_names_sort_in_byte_order_not_case_folded():
    assert string_to_sign({"b": "1", "B": "2", "a": "3", "_x": "4"}) == "B|2#_x|4#a|3#b|1#"


@pytest.mark.parametrize(
    "extra, expected",
    [
        ({}, HAND_SIGN_GET),
        ({"keystr": "a.png,b/c.png"}, HAND_SIGN_KEYSTR),
        ({"marker": "", "prefix": ""}, HAND_SIGN_LIST),
    ],
)
def test_compute_sign_matches_hand_computed_md5(extra, expected):
    assert compute_sign({**BASE, **extra}, "test-nextjoy-app-secret") == expected


def test_hand_signed_get_is_accepted(client, frozen):
    r = client.post("/upload_token/get", data={**BASE, "sign": HAND_SIGN_GET})
    assert body_of(r)["status"] == 200
    assert body_of(r)["message"] == "操作成功"


def test_hand_signed_list_with_empty_values_is_accepted(client, frozen):
    r = client.post("/upload_token/get_file_list", data={**BASE, "marker": "", "prefix": "", "sign": HAND_SIGN_LIST})
    assert body_of(r) == {"status": 200, "message": "操作成功", "data": {"marker": "", "data": []}}


def test_values_are_signed_as_sent_not_url_encoded(client, frozen):
    # The form encodes "a.png,b/c.png" as a.png%2Cb%2Fc.png on the wire; the sign covers the decoded value.
    r = client.post(
        "/upload_token/batch_get_file_info", data={**BASE, "keystr": "a.png,b/c.png", "sign": HAND_SIGN_KEYSTR}
    )
    assert body_of(r)["status"] == 200


def test_multipart_body_is_accepted(client, frozen):
    r = client.post("/upload_token/get", files={k: (None, v) for k, v in {**BASE, "sign": HAND_SIGN_GET}.items()})
    assert body_of(r)["status"] == 200


def test_json_body_is_accepted_with_numbers_signed_as_their_decimal_text(client, frozen):
    doc = {"appid": 1001, "child_id": 1000, "timestamp": DOC_TS, "sign": HAND_SIGN_GET}
    r = client.post("/upload_token/get", content=json.dumps(doc), headers={"content-type": "application/json"})
    assert body_of(r)["status"] == 200


def test_unknown_extra_parameters_are_part_of_the_sign(client, nj, frozen):
    good = nj.params(timestamp=DOC_TS, channel="taptap")
    assert body_of(client.post("/upload_token/get", data=good))["status"] == 200
    unsigned = {**BASE, "channel": "taptap", "sign": HAND_SIGN_GET}  # sign over the four only
    assert body_of(client.post("/upload_token/get", data=unsigned))["status"] == 18007


# -- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize("dropped", ["appid", "child_id", "timestamp", "sign"])
def test_missing_common_parameter_is_18007(client, nj, frozen, dropped):
    params = nj.params()
    del params[dropped]
    body = body_of(client.post("/upload_token/get", data=params))
    assert body == {"status": 18007, "message": "获取uploadToken请求校验失败", "data": {}}
    assert dropped in last_journal(client)["reason"]


@pytest.mark.parametrize("name, value", [("appid", "abc"), ("child_id", "1.5"), ("timestamp", ""), ("appid", "-1001")])
def test_non_integer_appid_child_id_timestamp_is_18007(client, nj, frozen, name, value):
    params = nj.params(timestamp=DOC_TS)
    params[name] = value
    params["sign"] = compute_sign(params, "test-nextjoy-app-secret")
    assert body_of(client.post("/upload_token/get", data=params))["status"] == 18007


@pytest.mark.parametrize("name", ["appid", "child_id", "timestamp"])
@pytest.mark.parametrize("value", ["9" * 4301, str(2**63), "\u00b2", "\u0661\u0660\u0660\u0661"])
def test_an_integer_past_php_int_or_in_other_digits_is_18007_and_deletes_nothing(client, nj, frozen, name, value):
    """Signed correctly, so 18007 is the parameter's, not the sign's (4301 digits was a 500
    answered 18005; an int past 2^63-1 is no PHP int; "²" and Arabic-Indic digits are no
    decimal digits)."""
    nj.put("keep.txt", b"1")
    params = nj.params(timestamp=frozen, keystr="keep.txt")
    params[name] = value
    params["sign"] = compute_sign(params, "test-nextjoy-app-secret")
    body = body_of(client.post("/upload_token/batch_del_file", data=params))
    assert body == {"status": 18007, "message": "获取uploadToken请求校验失败", "data": {}}
    reason = last_journal(client)["reason"]
    assert reason.startswith(f"{name} must be an integer") and len(reason) < 300
    assert nj.keys() == ["keep.txt"]


def test_the_largest_php_int_is_an_integer(client, nj, frozen):
    params = nj.params(timestamp=frozen)
    params["appid"] = str(2**63 - 1)
    params["sign"] = compute_sign(params, "test-nextjoy-app-secret")
    assert body_of(client.post("/upload_token/get", data=params))["status"] == 18000  # no such app


@pytest.mark.parametrize("appid, child_id", [(1001, 999), (9999, 1000)])
def test_unknown_appid_child_id_pair_is_18000(client, frozen, appid, child_id):
    params = {"appid": str(appid), "child_id": str(child_id), "timestamp": str(DOC_TS)}
    params["sign"] = compute_sign(params, "test-nextjoy-app-secret")
    body = body_of(client.post("/upload_token/get", data=params))
    assert body == {"status": 18000, "message": "token校验失败", "data": {}}
    assert f"appid {appid} and child_id {child_id}" in last_journal(client)["reason"]


def test_wrong_sign_is_18007_and_the_journal_shows_the_string_that_was_expected(client, frozen):
    r = client.post(
        "/upload_token/get_file_list", data={**BASE, "marker": "", "prefix": "img/", "sign": HAND_SIGN_LIST}
    )
    assert body_of(r)["status"] == 18007
    entry = last_journal(client)
    assert entry["code"] == 18007
    assert entry["tenant"] == "1001:1000"
    assert entry["expected"] == "appid|1001#child_id|1000#marker|#prefix|img/#timestamp|1525756883#<app_secret>"
    assert "test-nextjoy-app-secret" not in json.dumps(entry)
    assert "sign does not match" in entry["reason"]


def test_sign_with_another_apps_secret_is_18007(client, frozen):
    params = dict(BASE)
    params["sign"] = compute_sign(params, "some-other-secret")
    assert body_of(client.post("/upload_token/get", data=params))["status"] == 18007


def test_lower_case_sign_is_refused_with_a_hint(client, frozen):
    r = client.post("/upload_token/get", data={**BASE, "sign": HAND_SIGN_GET.lower()})
    assert body_of(r)["status"] == 18007
    assert "upper-case" in last_journal(client)["reason"]


def test_tampered_value_breaks_the_sign(client, frozen):
    r = client.post("/upload_token/get", data={**BASE, "timestamp": str(DOC_TS + 1), "sign": HAND_SIGN_GET})
    assert body_of(r)["status"] == 18007


@pytest.mark.parametrize("skew, status", [(-300, 200), (300, 200), (-301, 18006), (301, 18006), (-86400, 18006)])
def test_timestamp_must_be_within_300_seconds_of_the_clock(client, nj, frozen, skew, status):
    body = body_of(client.post("/upload_token/get", data=nj.params(timestamp=frozen + skew)))
    assert body["status"] == status
    if status == 18006:
        assert body == {"status": 18006, "message": "获取uploadToken请求超时", "data": {}}


def test_millisecond_timestamp_is_18006_with_a_hint(client, nj, frozen):
    body = body_of(client.post("/upload_token/get", data=nj.params(timestamp=frozen * 1000)))
    assert body["status"] == 18006
    assert "milliseconds" in last_journal(client)["reason"]


def test_timestamp_follows_the_emulator_clock(client, nj, frozen):
    params = nj.params(timestamp=frozen)
    client.post("/_emulator/clock", json={"advance": 301})
    assert body_of(client.post("/upload_token/get", data=params))["status"] == 18006


@pytest.mark.parametrize(
    "content, content_type",
    [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"appid=1001", "text/plain"),
        (b"\xff\xfe=1", "application/x-www-form-urlencoded"),
        (b"--x\r\nbroken", "multipart/form-data; boundary=x"),
    ],
)
def test_unreadable_bodies_are_18007(client, frozen, content, content_type):
    r = client.post("/upload_token/get", content=content, headers={"content-type": content_type})
    assert body_of(r)["status"] == 18007


@pytest.mark.parametrize(
    "name, needs",
    [
        ("get_file_list", "marker"),
        ("get_file_list", "prefix"),
        ("batch_get_file_info", "keystr"),
        ("batch_del_file", "keystr"),
        ("batch_refresh_file", "urls"),
        ("batch_refresh_dir", "dirs"),
    ],
)
def test_each_calls_own_required_parameter_is_18007_when_missing(client, nj, frozen, name, needs):
    extra = {
        "marker": "",
        "prefix": "",
        "keystr": "a",
        "urls": "http://cdn.example.com/a",
        "dirs": "http://cdn.example.com/d/",
    }
    wanted = {"get_file_list": ["marker", "prefix"]}.get(name, [needs])
    params = nj.params(**{k: extra[k] for k in wanted if k != needs})
    body = body_of(client.post(f"/upload_token/{name}", data=params))
    assert body["status"] == 18007
    assert needs in last_journal(client)["reason"]


def test_every_call_checks_the_sign(client, frozen):
    for name in (
        "get",
        "get_file_list",
        "batch_get_file_info",
        "batch_del_file",
        "batch_refresh_file",
        "batch_refresh_dir",
    ):
        r = client.post(f"/upload_token/{name}", data={**BASE, "sign": "0" * 32})
        assert body_of(r)["status"] == 18007, name


def test_multipart_body_over_4_mib_in_all_is_18007_even_when_each_part_is_smaller(client, nj, frozen):
    # Each part is under the 4 MiB cap, the body is not: the cap is on the whole body.
    params = nj.params(pad1="a" * (3 << 20), pad2="b" * (3 << 20))
    r = client.post("/upload_token/get", files={k: (None, v) for k, v in params.items()})
    assert body_of(r) == {"status": 18007, "message": "获取uploadToken请求校验失败", "data": {}}
    assert "exceeds" in last_journal(client)["reason"]
    small = nj.params(pad1="a" * (1 << 20), pad2="b" * (1 << 20))
    assert body_of(client.post("/upload_token/get", files={k: (None, v) for k, v in small.items()}))["status"] == 200


def test_an_unexpected_error_is_18005_on_http_200(client, nj, monkeypatch):
    from emulator.apis.nextjoy.service import NextJoyService

    def boom(*args, **kwargs):
        raise RuntimeError("simulated fault")

    monkeypatch.setattr(NextJoyService, "list_files", boom)
    r = client.post("/upload_token/get_file_list", data=nj.params(marker="", prefix=""))
    assert body_of(r) == {"status": 18005, "message": "获取uploadToken失败", "data": {}}
