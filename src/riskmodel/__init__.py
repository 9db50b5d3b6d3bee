"""riskmodel."""
