"""flowd's HTTP ingress (aiohttp): events, signals, callbacks, instances, operator routes."""

from .ingress import ClientError, bind_socket, create_app, parse_address, serve

__all__ = ["ClientError", "bind_socket", "create_app", "parse_address", "serve"]
