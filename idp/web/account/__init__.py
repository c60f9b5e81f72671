"""The signed-in member's own pages under /account/: overview and sign-out, profile,
second factors (Security), sessions and connected apps."""
