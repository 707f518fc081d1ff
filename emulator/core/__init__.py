"""Machinery every API uses, and nothing API-specific."""
