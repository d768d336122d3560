"""Clients: the interface (base), the kinds a deployment may name with their lazy loaders (registry), and one module
per backend."""
