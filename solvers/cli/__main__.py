"""``python -m solvers.cli``: the ``attnreg`` command line (used under ``torchrun``)."""

import sys

from . import main

sys.exit(main())
