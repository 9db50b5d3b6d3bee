"""The app's routes by subject; each holds HTTP only (parsing, scopes, status codes)."""
