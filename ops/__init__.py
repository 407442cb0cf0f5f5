"""Operator tooling for a deployed gateway (never deployed itself)."""
