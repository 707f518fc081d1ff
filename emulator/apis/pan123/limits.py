"""The document's QPS table (限流处理): calls per second per client_id, per endpoint.
Endpoints not listed are not limited. Overrides come from /_emulator/pan123/config."""

from __future__ import annotations

QPS: dict[str, int] = {
    "api/v1/user/info": 1,
    "api/v1/file/move": 1,
    "api/v1/file/delete": 1,
    "api/v1/file/list": 4,
    "upload/v1/file/mkdir": 2,
    "upload/v1/file/create": 2,
    "api/v1/access_token": 1,
    "api/v1/share/list": 10,
    "api/v1/share/list/info": 10,
    "api/v1/transcode/folder/info": 20,
    "api/v1/transcode/upload/from_cloud_disk": 1,
    "api/v1/transcode/delete": 10,
    "api/v1/transcode/video/resolutions": 1,
    "api/v1/transcode/video": 3,
    "api/v1/transcode/video/record": 20,
    "api/v1/transcode/video/result": 20,
    "api/v1/transcode/file/download": 10,
    "api/v1/transcode/m3u8_ts/download": 20,
    "api/v1/transcode/file/download/all": 1,
}
WINDOW = 1.0  # seconds of emulator time


def key_of(path: str) -> str:
    """``/upload/v1/file/create`` -> ``upload/v1/file/create`` (the table's spelling)."""
    return path.strip("/")
