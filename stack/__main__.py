import sys

from dbstack.cli import main

sys.exit(main())
