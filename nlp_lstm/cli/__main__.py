"""`python -m nlp_lstm.cli ...`: the same as the `nlp-lstm` command."""

import sys

from nlp_lstm.cli import main

if __name__ == "__main__":
    sys.exit(main())
