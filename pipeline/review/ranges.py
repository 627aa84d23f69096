"""HTTP byte ranges for audio held in memory (a decrypted recording).

Browsers seek in an <audio> element with Range requests; without a 206 answer, Chrome
cannot jump to the word the secretary clicked.
"""

from __future__ import annotations

import re

from fastapi import Response

SINGLE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def ranged_response(data: bytes, media_type: str, range_header: str | None) -> Response:
    headers = {"Accept-Ranges": "bytes"}
    match = SINGLE_RANGE.fullmatch(range_header.strip()) if range_header else None
    if match is None or match.group(1) == match.group(2) == "":
        return Response(data, media_type=media_type, headers=headers)
    size = len(data)
    first, last = match.groups()
    if first == "":  # "bytes=-N": the last N bytes
        start, end = max(size - int(last), 0), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    return Response(data[start:end + 1], status_code=206, media_type=media_type,
                    headers={**headers, "Content-Range": f"bytes {start}-{end}/{size}"})
