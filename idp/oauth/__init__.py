"""All of the Authlib wiring: server, grants, claims, discovery metadata, token formats."""
