"""gunicorn settings that have no command-line flag, mirroring `idp serve` (idp.cli.ProviderServer):
which proxy to believe about scheme and client address is idp's decision (server.trusted_proxies),
never gunicorn's. Bind, worker class, workers and threads come from bench/run.py's command line."""

forwarded_allow_ips = ""
secure_scheme_headers: dict[str, str] = {}
proc_name = "idp-bench"
loglevel = "warning"
