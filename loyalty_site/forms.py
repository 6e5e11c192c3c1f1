"""Form widgets every page shares, so that a kind of input looks and parses the same everywhere."""

from django import forms


class DateInput(forms.DateInput):
    """A calendar date: the browser's date picker (`type="date"`), sending and showing ISO dates underneath."""

    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)
