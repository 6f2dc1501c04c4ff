"""`python -m app.auth hash-password | new-token | check`."""

import sys

from app.auth.command import main

sys.exit(main())
