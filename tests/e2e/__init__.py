"""Own tests end to end: processes of their own, hosts, the zoo, the docs' commands."""
