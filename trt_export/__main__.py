"""``python -m trt_export``: the command line, as the ``trt-export`` script runs it."""

import sys

from trt_export.cli.commands import main

sys.exit(main())
