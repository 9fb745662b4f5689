import sys

from stanzalink.cli import main

sys.exit(main())
