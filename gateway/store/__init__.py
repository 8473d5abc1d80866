"""Where terminal data is kept: the event log behind every acknowledgement.

``base`` declares the seam (``EventStore``: append, then be told the batch is stored; read
from a sequence), ``memory`` keeps nothing (``--durability memory``), ``log`` is the embedded
SQLite log under ``--data-dir`` with its one writer thread (``--durability fsync`` / ``os``),
and ``records`` turns hub events into rows and back.
"""
