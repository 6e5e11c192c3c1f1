"""Argument types shared by the rewards commands."""

import argparse
import datetime as dt


def local_day(text: str) -> dt.date:
    """A --date value: a local calendar day, YYYY-MM-DD. argparse turns a refusal into the command's error."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be YYYY-MM-DD, not {text!r}") from None
