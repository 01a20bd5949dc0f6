"""HTTP API routers, one per domain: plant data and KPIs (plant.py), tenancy (tenancy.py,
accounts.py), the commons (commons.py); shared error answers (common.py)."""
