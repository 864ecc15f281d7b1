import sys

from featurebench.cli import main

sys.exit(main())
