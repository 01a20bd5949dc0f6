"""Server-rendered pages, one module per domain: the dashboard (dashboard.py, with what its pages
show in dashboard_data.py), settings (settings.py) and the commons (commons.py)."""
