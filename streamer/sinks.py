"""Event sinks: where events go besides the WebSocket feed.

Exports :class:`JsonlSink`, :func:`format_caption` and :func:`format_status`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

__all__ = ["JsonlSink", "format_caption", "format_status"]


class JsonlSink:
    """Writes one JSON object per line to ``path`` and flushes each line.

    Every line is on disk as soon as :meth:`write` returns, so a run that dies later keeps
    every event it produced. An existing file is refused (OSError naming it), so a restart
    never wipes the events of an earlier run, unless ``overwrite`` is given: then it is
    truncated when the sink opens.
    """

    def __init__(self, path: str | Path, overwrite: bool = False):
        self.path = Path(path)
        try:
            self._file: TextIO | None = open(self.path, "w" if overwrite else "x", encoding="utf-8")
        except FileExistsError:
            raise OSError(f"{self.path}: cannot write events (the file exists; pass --overwrite to replace it, "
                          f"or choose another file)") from None
        except OSError as exc:
            raise OSError(f"{self.path}: cannot write events ({exc.strerror or exc})") from None
        self.count = 0

    def write_line(self, text: str) -> None:
        """Write one event, already serialised as one line of JSON."""
        assert self._file is not None, "write after close"
        self._file.write(text + "\n")
        self._file.flush()
        self.count += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> "JsonlSink":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def format_caption(event: dict) -> str:
    """One human line for a caption event: ``[  12.50 s] cam0  change  0.41  tabby (tiger cat, …)``."""
    others = ", ".join(label["text"] for label in event["labels"][1:3])
    tail = f" ({others})" if others else ""
    return f"[{event['t']:8.2f} s] {event['source']}  {event['reason']:<9} {event['drift']:.2f}  {event['text']}{tail}"


def format_status(event: dict) -> str:
    """One human line for a status event: ``cam0: reconnecting — <detail>``."""
    return f"{event['source']}: {event['state']} — {event['detail']}"
