"""Renderers: each turns a report into a string. Nothing here talks to a server."""
