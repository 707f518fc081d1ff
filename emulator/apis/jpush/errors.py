"""JPush file API error codes: (code, HTTP status, message), from the document's table."""

from ...core.errors import ErrorTable, row


class JPushError(ErrorTable, api="jpush"):
    INTERNAL = row(1100, 500, "系统内部错误")
    AUTH_FAILED = row(1101, 400, "验证失败")
    MISSING_PARAM = row(1102, 400, "缺少了必须的参数")
    INVALID_PARAM = row(1103, 400, "参数值不合法")
    FILE_NOT_FOUND = row(1104, 400, "请求文件不存在")
    NO_PERMISSION = row(1105, 403, "无权限")
    TOO_MANY_FILES = row(1112, 400, "文件个数超过限制")
    # Not in the file document's table: a documented path called with another HTTP method
    # (HTTP 405 and the file API's "invalid parameter value" code; docs/FIDELITY.md).
    METHOD_NOT_ALLOWED = row(1103, 405, "参数值不合法")
    # Not in the file document's table: JPush's REST-wide rate-limit answer.
    RATE_LIMITED = row(2002, 429, "API调用频率超出该应用的限制")
