import sys

from moneypath.cli import main

sys.exit(main())
