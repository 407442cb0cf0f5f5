"""Adapters for Sinch's APIs."""
