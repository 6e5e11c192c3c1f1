"""What every file we hand to a spreadsheet must respect, wherever it is written (page export, command)."""

# A spreadsheet runs a cell that begins with one of these as a formula (OWASP "CSV injection"), the
# full-width forms included: spreadsheets with East Asian input read "＝1+2" as "=1+2".
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def neutralise_formula(value):
    """A text cell that a spreadsheet would run as a formula, made inert by a leading apostrophe.

    Numbers are left alone: a points column of -50 is a number, not text, in both CSV and XLSX.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
