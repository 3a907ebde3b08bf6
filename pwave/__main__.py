import sys

from pwave.cli import main

sys.exit(main())
