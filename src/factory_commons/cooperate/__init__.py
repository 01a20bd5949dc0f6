"""The commons between factories: profiles, requests, matching, teams, pools, missions."""
