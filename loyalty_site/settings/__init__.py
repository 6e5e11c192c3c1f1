"""Settings modules: `local` (the default for manage.py), `test`, and `production`.

Every knob comes from the environment through one `environ.Env()` in `base`.
"""
