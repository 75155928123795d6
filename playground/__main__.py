"""`python -m playground`: see playground/run.py (`python -m bot playground` comes here)."""

import sys

from playground.run import main

sys.exit(main())
