"""`python -m cli ...`: the same as the `olive-lab` command: no command opens the app, as `--help` says."""

import sys

from cli.launch import main

sys.exit(main())
