"""The live web dashboard: ``jt808 dashboard`` (server.py) and its page (frontend/, built
into static/)."""
