"""`python -m factory_commons.hub ...`: the `factory-commons hub` commands (worker processes)."""

from .cli import hub_app

if __name__ == "__main__":
    hub_app()
