"""access_token rules on every token-guarded endpoint, the tenant found by the key that
verifies, minting (function and admin call), and the journal's evidence."""

from __future__ import annotations

import hashlib
import hmac
import struct

import pytest
from antelope_kit import APP_KEY, DOC_CID, DOC_CONTROL, DOC_EXPIRE, DOC_TIME, Antelope, make_token

from emulator.apis.antelope.auth import mint_token


def calls(ant: Antelope, token):
    """One request to each token-guarded endpoint."""
    return {
        "upload2": lambda: ant.upload2(b"x", key="/t", token=token),
        "upload3": lambda: ant.upload3({"channel_id": 0, "attachments": [{"form_field": "f"}]},
                                       [("f", "f.txt", b"x")], token=token),
        "files": lambda: ant.get("/files", token=token, key="/t"),
        "delete": lambda: ant.get("/fileinfo/delete", token=token, key="/t"),
        "infos": lambda: ant.get("/fileinfo/infos", token=token, key="/t"),
        "listbysort": lambda: ant.get("/fileinfo/listbysort", token=token, key="/t", count=1),
        "cidsbyappid": lambda: ant.get("/fileinfo/cidsbyappid", token=token, obj_type=1),
    }


GOOD = make_token()
WRONG_DIGEST = GOOD[:-1] + ("0" if GOOD[-1] != "0" else "1")
# GOOD with its cid in Arabic-Indic digits (which Python's int() would read as the same number)
ARABIC_DIGITS = "".join(chr(0x660 + int(d)) for d in str(DOC_CID)) + GOOD[len(str(DOC_CID)):]


@pytest.mark.parametrize(("token", "expected"), [
    (None, 400),
    ("", 400),
    (WRONG_DIGEST, 401),
    (make_token(key="some-other-apps-key"), 401),  # unknown key
    (GOOD.upper(), 401),  # the digest is lower-case hex
    ("1003775_3145728_1577429797", 401),
    ("abc", 401),
    ("1003775_3145728_1577429797_abf2", 401),
    ("x_3145728_1577429797_" + "0" * 32, 401),
    ("4294967296_0_1577429797_" + "0" * 32, 401),  # cid beyond uint32
    (GOOD + "_1", 401),
    (make_token(expire=DOC_TIME - 1), 401),  # expired on the emulator clock
    (GOOD + "\n", 401),  # nothing may follow the digest, not even a newline
    (ARABIC_DIGITS, 401),  # cid, control and expire are ASCII decimal
])
def test_missing_token_is_400_and_bad_ones_are_401_everywhere(ant, state, token, expected):
    ant.ok(ant.upload2(b"kept", key="/t"))
    before = state()
    for name, call in calls(ant, token).items():
        r = call()
        assert r.status_code == expected, (name, r.text)
        assert r.json()["code"] == expected
    assert state() == before


def test_the_document_token_fields_verify_with_the_app_key(ant):
    for call in calls(ant, GOOD).values():
        assert call().status_code in (200, 404)


def test_token_is_valid_up_to_its_expire_second(ant):
    token = make_token(expire=DOC_TIME + 10)
    ant.advance(10)
    assert ant.upload2(b"x", key="/a", token=token).status_code == 200
    ant.advance(1)
    r = ant.upload2(b"x", key="/b", token=token)
    assert r.status_code == 401
    assert "expired" in r.json()["message"]


def test_expired_token_in_a_stored_url_needs_renewing(ant):
    """"如果url里的access_token过期，用户需要自行更新access_token"."""
    short = make_token(expire=DOC_TIME + 60)
    ant.ok(ant.upload2(b"x", key="/1/u.txt", token=short))
    ant.advance(61)
    assert ant.get("/files", token=short, key="/1/u.txt").status_code == 401
    assert ant.get("/files", token=make_token(expire=DOC_TIME + 3600), key="/1/u.txt").content == b"x"


def test_the_tenant_whose_key_verifies_owns_the_upload(ant, client):
    client.post("/_emulator/fixtures", json={"antelope": [{"app_id": "Other", "app_key": "other-key", "area_id": 7}]})
    body = ant.ok(ant.upload2(b"x", key="/o", token=make_token(key="other-key", cid=5)))
    assert (body["app_id"], body["c_id"], body["area_id"]) == ("Other", 5, 7)
    assert body["obj_id"][16:18] == "07"


def test_mint_token_function_matches_the_documented_algorithm():
    token = mint_token(APP_KEY, DOC_CID, DOC_CONTROL, DOC_EXPIRE)
    digest = hmac.new(APP_KEY.encode(), struct.pack("<III", DOC_CID, DOC_CONTROL, DOC_EXPIRE), hashlib.md5)
    assert token == f"1003775_3145728_1577429797_{digest.hexdigest()}"
    with pytest.raises(ValueError):
        mint_token(APP_KEY, -1, 0, 0)
    with pytest.raises(ValueError):
        mint_token(APP_KEY, 0, 2**32, 0)


def test_admin_call_mints_working_tokens(ant, client):
    r = client.post("/_emulator/antelope/tokens", json={"cid": 1003776, "control": 3145728, "ttl": 60})
    assert r.status_code == 200
    minted = r.json()
    assert minted == {"access_token": make_token(cid=1003776, expire=DOC_TIME + 60), "app_id": "Test",
                      "cid": 1003776, "control": 3145728, "expire": DOC_TIME + 60}
    assert ant.ok(ant.upload2(b"x", key="/m", token=minted["access_token"]))["c_id"] == 1003776
    explicit = client.post("/_emulator/antelope/tokens", json={"app_id": "Test", "cid": 1, "expire": DOC_EXPIRE})
    assert explicit.json()["access_token"] == make_token(cid=1, control=0, expire=DOC_EXPIRE)
    default = client.post("/_emulator/antelope/tokens", json={"cid": 1}).json()
    assert default["expire"] == DOC_TIME + 86400


@pytest.mark.parametrize(("body", "status"), [
    ({"app_id": "Nope", "cid": 1}, 404),
    ({"cid": -1}, 400),
    ({"cid": 2**32}, 400),
    ({"cid": 1, "expire": 5, "ttl": 5}, 400),
    ({}, 400),
])
def test_admin_mint_refuses_bad_requests(client, body, status):
    assert client.post("/_emulator/antelope/tokens", json=body).status_code == status


def test_journal_names_the_app_and_explains_refusals(ant, client):
    client.delete("/_emulator/requests")
    ant.ok(ant.upload2(b"x", key="/j"))
    ant.upload2(b"x", key="/j2", token=WRONG_DIGEST)
    ant.upload2(b"x", key="/j3", token=make_token(expire=DOC_TIME - 5))
    ok, wrong, expired = client.get("/_emulator/requests", params={"api": "antelope"}).json()
    assert (ok["status"], ok["tenant"]) == (200, "Test")
    assert wrong["status"] == 401 and wrong["code"] == 401
    assert "verifies with no app" in wrong["reason"]
    packed = struct.pack("<III", DOC_CID, DOC_CONTROL, DOC_EXPIRE).hex()
    assert packed in wrong["expected"]
    assert "Test:test***" in wrong["expected"]
    assert APP_KEY not in str(wrong)
    assert GOOD not in str(wrong) and WRONG_DIGEST not in str(wrong)  # the token itself is redacted
    assert "expired" in expired["reason"] and expired["tenant"] == "Test"
