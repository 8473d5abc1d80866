"""The blob format at work, for comparing the compiled packer with pure Python.

Run as a script (``python -m tests.store.blob_transcript``) it packs a fixed set of events and
prints one JSON object: which implementation ran, and the SHA-256 of the packed bytes and of
the records read back. ``test_blob_format`` runs it once per implementation and compares.
"""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import UTC, datetime

from gateway import native
from gateway.store import blob, segments
from gateway.store.rows import pack
from tests.store.test_blob_format import every_kind_of_event


def main() -> int:
    segment = pack([every_kind_of_event(datetime(2026, 12, 6, 5, 30, 1, 250_000, tzinfo=UTC))])
    assert segment is not None
    data = segments.join([segment[0]])
    records = blob.records(data, 1, 0)
    print(json.dumps({
        "compiled": native.running_compiled(),
        "blob": hashlib.sha256(data).hexdigest(),
        "records": hashlib.sha256(repr(records).encode()).hexdigest(),
        "count": segment[1],
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
