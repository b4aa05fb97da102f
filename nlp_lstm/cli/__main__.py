"""`python -m nlp_lstm.cli ...`: the same as the `nlp-lstm` command."""

from nlp_lstm.cli import console_main

if __name__ == "__main__":
    console_main()
