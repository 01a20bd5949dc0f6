"""`python -m factory_commons` runs the command line, like `factory-commons`."""

from .cli import app

app(prog_name="factory-commons")
