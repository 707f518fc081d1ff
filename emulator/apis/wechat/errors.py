"""WeChat error tables as data.

``WeChatError``: the ``{errcode, errmsg}`` answers of api.weixin.qq.com (always HTTP 200),
from the document's errcode tables, the access_token errors of the README's supplementary
facts, and the Cloud Base errcodes the real service answers (see docs/FIDELITY.md, "WeChat Cloud Base storage").
``CosError``: the XML errors of the storage side (COS form POST, download links).
"""

from ...core.errors import ErrorTable, row


class WeChatError(ErrorTable, api="wechat"):
    SYSTEM_ERROR = row(-1, 200, "system error")  # anything unexpected
    BACKEND_ERROR = row(-1000, 200, "system error")  # the storage backend (database) failed
    # /cgi-bin/token
    INVALID_CREDENTIAL = row(40001, 200, "invalid credential, access_token is invalid or not latest")
    INVALID_GRANT_TYPE = row(40002, 200, "invalid grant_type")
    INVALID_APPID = row(40013, 200, "invalid appid")
    APPID_MISSING = row(41002, 200, "appid missing")
    SECRET_MISSING = row(41004, 200, "appsecret missing")
    REQUIRE_GET = row(43001, 200, "require GET method")
    # the tcb calls
    INVALID_TOKEN = row(40014, 200, "invalid access_token")
    INVALID_ARGS = row(40097, 200, "invalid args")
    MISSING_PARAMETER = row(40101, 200, "missing parameter")
    TOKEN_MISSING = row(41001, 200, "access_token missing")
    TOKEN_EXPIRED = row(42001, 200, "access_token expired")
    REQUIRE_POST = row(43002, 200, "require POST method")
    EMPTY_BODY = row(44002, 200, "empty post data")
    BAD_BODY = row(47001, 200, "data format error")
    CLOUD_NOT_OPEN = row(85088, 200, "no cloud development environment for this app")
    # Cloud Base errcodes ("其他错误码: 云开发错误码")
    ENV_NOT_FOUND = row(-501000, 200, "Environment not found")
    INVALID_PARAMETERS = row(-501007, 200, "invalid parameters")


class CosError(ErrorTable, api="wechat"):
    MALFORMED_POST = row(
        "MalformedPOSTRequest", 400, "The body of your POST request is not well-formed multipart/form-data."
    )
    INVALID_ARGUMENT = row("InvalidArgument", 400, "Invalid Argument")
    ENTITY_TOO_LARGE = row("EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed object size.")
    ACCESS_DENIED = row("AccessDenied", 403, "Access Denied.")
    REQUEST_EXPIRED = row("AccessDenied", 403, "Request has expired")
    SIGNATURE_MISMATCH = row("SignatureDoesNotMatch", 403, "The calculated signature does not match the given one.")
    NO_SUCH_BUCKET = row("NoSuchBucket", 404, "The specified bucket does not exist.")
    NO_SUCH_KEY = row("NoSuchKey", 404, "The specified key does not exist.")
    METHOD_NOT_ALLOWED = row("MethodNotAllowed", 405, "The specified method is not allowed against this resource.")
    RANGE_NOT_SATISFIABLE = row("InvalidRange", 416, "The requested range is not satisfiable.")
    INTERNAL = row("InternalError", 500, "We encountered an internal error. Please try again.")
