"""Security pieces shared by several layers: per-node credentials, the site's TLS material, secret files."""
