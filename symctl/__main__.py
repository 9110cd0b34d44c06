import sys

from symctl.cli import main

sys.exit(main())
