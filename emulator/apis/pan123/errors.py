"""123pan error codes as data: (code, HTTP status, message).

The JSON API answers every business error on HTTP 200 inside its envelope (the document's
PHP demo and the public SDKs read ``code`` from the body and never look at the status).
The presigned storage host answers S3-style XML errors with their HTTP status.
"""

from ...core.errors import ErrorTable, row


class Pan123Error(ErrorTable, api="pan123"):
    # The document's 常用code码 table.
    INVALID_TOKEN = row(401, 200, "access_token无效")
    TOO_FREQUENT = row(429, 200, "请求太频繁")
    # Not in the document: the codes the real service answers (docs/FIDELITY.md, "123pan open platform").
    FAILED = row(1, 200, "参数错误")  # any refused request: the message names the rule
    NOT_FOUND = row(5066, 200, "文件不存在")
    INTERNAL = row(500, 200, "服务器内部错误")
    VERIFYING = row(20103, 200, "文件正在校验中,请间隔1秒后再试")  # upload v2 upload_complete, when asked for
    NO_SUCH_PATH = row(404, 404, "Not Found")  # a path the platform does not have


class S3Error(ErrorTable, api="pan123"):
    ACCESS_DENIED = row("AccessDenied", 403, "Access Denied")
    EXPIRED = row("AccessDenied", 403, "Request has expired")
    SIGNATURE = row(
        "SignatureDoesNotMatch",
        403,
        ("The request signature we calculated does not match the signature you provided. "
         "Check your key and signing method."),
    )
    NO_SUCH_UPLOAD = row(
        "NoSuchUpload",
        404,
        ("The specified upload does not exist. The upload ID may be invalid, or the upload may have been "
         "aborted or completed."),
    )
    NO_SUCH_KEY = row("NoSuchKey", 404, "The specified key does not exist.")
    METHOD_NOT_ALLOWED = row("MethodNotAllowed", 405, "The specified method is not allowed against this resource.")
    TOO_LARGE = row("EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed size")
    BAD_RANGE = row("InvalidRange", 416, "The requested range is not satisfiable")
    INTERNAL = row("InternalError", 500, "We encountered an internal error. Please try again.")
