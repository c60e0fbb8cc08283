"""`python -m engine.cli ...`: the headless command line without the app's launcher."""

import sys

from engine.cli import main

sys.exit(main())
