"""JPush file API error codes: (code, HTTP status, message), from the document's table."""

from ...core.errors import ErrorTable


class JPushError(ErrorTable, api="jpush"):
    INTERNAL = (1100, 500, "系统内部错误")
    AUTH_FAILED = (1101, 400, "验证失败")
    MISSING_PARAM = (1102, 400, "缺少了必须的参数")
    INVALID_PARAM = (1103, 400, "参数值不合法")
    FILE_NOT_FOUND = (1104, 400, "请求文件不存在")
    NO_PERMISSION = (1105, 403, "无权限")
    TOO_MANY_FILES = (1112, 400, "文件个数超过限制")
    # Not in the file document's table: a documented path called with another HTTP method
    # (HTTP 405 and the file API's "invalid parameter value" code; docs/FIDELITY.md).
    METHOD_NOT_ALLOWED = (1103, 405, "参数值不合法")
    # Not in the file document's table: JPush's REST-wide rate-limit answer.
    RATE_LIMITED = (2002, 429, "API调用频率超出该应用的限制")
