"""The progress line: its realtime factor counts from the start of the work, as the summary does."""

import io
import time

from pipelines.progress import Progress, count_of


def test_the_realtime_factor_leaves_out_what_came_before_start():
    out = io.StringIO()
    progress = Progress("demo", 100.0, stream=out, every_s=0.0)
    time.sleep(1.0)  # models loading: counted, the factor would be at most 10
    progress.start()
    progress.update(media_s=10.0, captions=1)
    line = out.getvalue()
    factor = float(line.split(", ")[-1].split("x real time")[0])
    assert line.startswith("demo: 10.0 s / 100.0 s ( 10%), 1 caption, ") and factor > 20, line


def test_counts_agree_in_number():
    assert (count_of(0, "clip"), count_of(1, "caption"), count_of(5, "caption")) == ("0 clips", "1 caption", "5 captions")
