"""Manufacturing AI: anomaly detection on machine signals and remaining-useful-life models."""
