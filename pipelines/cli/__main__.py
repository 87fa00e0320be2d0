"""``python -m pipelines.cli``: the same as the ``jepa-stream`` command."""

import sys

from pipelines.cli import main

sys.exit(main())
