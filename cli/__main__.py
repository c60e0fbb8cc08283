"""`python -m cli ...`: the headless command line without the app's launcher."""

import sys

from cli import main

sys.exit(main())
