import sys

from humwatch_edge.cli import main

sys.exit(main())
