"""Antelope object storage (ADFS) statuses, from the document's status tables. The service
answers with bare HTTP statuses; the business code is the status itself."""

from ...core.errors import ErrorTable, row


class AntelopeError(ErrorTable, api="antelope"):
    BAD_REQUEST = row(400, 400, "参数错误，可能缺少参数或者类型不正确")
    UNAUTHORIZED = row(401, 401, "app_key 验证不通过")
    FORBIDDEN_APP = row(401, 401, "权限验证不通过")  # /v2/events: X-APP-ID / X-APP-Key refused
    NOT_FOUND = row(404, 404, "下载文件不存在")
    SIZE_OVER_LIMIT = row(406, 406, "参数 size 大于限制 100")
    # Not in the document's tables: a documented path called with another HTTP method.
    METHOD_NOT_ALLOWED = row(405, 405, "请求方法不支持")
    INTERNAL = row(500, 500, "系统内部错误")
