import sys

from trt_export.cli.commands import main

sys.exit(main())
