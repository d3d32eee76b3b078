"""`python -m moneypath`: the same CLI as the `moneypath` command."""

import sys

from moneypath.cli import main

sys.exit(main())
