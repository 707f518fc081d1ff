"""Error tables: NextJoy's 18xxx codes (always HTTP 200, in the {status, message, data}
envelope) and the Qiniu upload host's HTTP statuses (``{"error": "..."}`` bodies)."""

from ...core.errors import ErrorTable, row


class NextJoyError(ErrorTable, api="nextjoy"):
    """The document's table, verbatim. Which case gets which code: docs/FIDELITY.md."""

    TOKEN_CHECK_FAILED = row(18000, 200, "token校验失败")  # unknown appid/child_id pair
    GET_TOKEN_FAILED = row(18005, 200, "获取uploadToken失败")  # the storage side refused the operation
    REQUEST_TIMEOUT = row(18006, 200, "获取uploadToken请求超时")  # timestamp outside the accepted window
    REQUEST_CHECK_FAILED = row(18007, 200, "获取uploadToken请求校验失败")  # missing/malformed parameter, bad sign
    DELETE_FAILED = row(18008, 200, "批量删除文件失败")
    TOO_MANY_TO_DELETE = row(18009, 200, "批量删除的文件过多")


class QiniuError(ErrorTable, api="nextjoy"):
    """Qiniu's upload-host answers: code = HTTP status, message = the ``error`` text the
    real host sends for that case."""

    BAD_REQUEST = row(400, 400, "invalid argument")
    NO_FILE = row(400, 400, "file is not specified in multipart")
    BAD_MD5 = row(400, 400, "Content-MD5 not match")
    BAD_PART = row(400, 400, "invalid part")
    BAD_PART_SIZE = row(400, 400, "part too small")
    NO_TOKEN = row(401, 401, "token not specified")
    BAD_TOKEN = row(401, 401, "bad token")
    EXPIRED_TOKEN = row(401, 401, "expired token")
    KEY_SCOPE = row(403, 403, "key doesn't match with scope")
    MIME_LIMIT = row(403, 403, "limited mimeType")
    TOO_SMALL = row(403, 403, "file size is smaller than fsizeMin")
    METHOD_NOT_ALLOWED = row(405, 405, "method not allowed")
    CRC32_MISMATCH = row(406, 406, "crc32 not match")
    TOO_LARGE = row(413, 413, "request entity too large")
    SERVER_ERROR = row(599, 599, "server error")
    NO_SUCH_UPLOAD = row(612, 612, "no such uploadId")
    FILE_EXISTS = row(614, 614, "file exists")
    NO_SUCH_BUCKET = row(631, 631, "no such bucket")
    BAD_CTX = row(701, 701, "invalid ctx")
