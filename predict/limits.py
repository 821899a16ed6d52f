"""Limits shared by batch labeling (`mihwar predict`) and the server: one place, one value."""

MAX_CHARS = 100_000  # characters per article; longer texts get an error row (batch) or 413 (server)
MAX_FILE_BYTES = 20_000_000  # a .txt/.html file bigger than this is reported, never read
ERRORS_SHOWN = 20  # error lines printed on stderr after a batch; the rest are counted
