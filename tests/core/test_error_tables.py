"""Error tables: rows declared with row() read as typed ErrorCodes, bound to their API and name."""

from __future__ import annotations

import pytest

from emulator.apis.jpush.errors import JPushError
from emulator.apis.nextjoy.errors import QiniuError
from emulator.core.errors import ErrorCode, ErrorTable, VendorError, row


def test_a_row_reads_as_the_error_code_of_its_table():
    spec = JPushError.AUTH_FAILED
    assert isinstance(spec, ErrorCode)
    assert (spec.api, spec.name, spec.code, spec.http_status) == ("jpush", "AUTH_FAILED", 1101, 400)
    assert JPushError.AUTH_FAILED is spec  # one ErrorCode per row
    assert JPushError().AUTH_FAILED is spec  # through an instance too
    err = spec("unknown app key", reason="r")
    assert isinstance(err, VendorError) and err.message == "unknown app key" and err.extra == {"reason": "r"}


def test_all_lists_the_rows_in_declaration_order_and_by_code_finds_the_first():
    class Table(ErrorTable, api="demo"):
        FIRST = row(1, 400, "one")
        SECOND = row("Two", 403, "two")
        AGAIN = row(1, 405, "one again")
        _private = (9, 9, "not a row")

    assert [e.name for e in Table.all()] == ["FIRST", "SECOND", "AGAIN"]
    assert {e.api for e in Table.all()} == {"demo"}
    assert Table.by_code("1") is Table.FIRST
    assert Table.by_code("Two") is Table.SECOND
    assert Table.by_code(2) is None
    assert QiniuError.by_code(614) is QiniuError.FILE_EXISTS


def test_a_row_written_as_a_bare_tuple_is_refused_when_the_table_is_declared():
    with pytest.raises(TypeError, match="row\\(code, status, message\\)"):
        class Old(ErrorTable, api="demo"):
            OLD = (1, 400, "old style")
