"""The rules, as plain functions over a database session and explicit arguments."""
