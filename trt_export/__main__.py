import sys

from trt_export.cli import main

sys.exit(main())
