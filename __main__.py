"""``python -m quarterhour``: the command line."""

import sys

from quarterhour.api.cli.main import main

sys.exit(main())
