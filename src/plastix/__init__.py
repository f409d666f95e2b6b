"""plastix: learning in time with recurrent and plastic networks, in JAX."""

__version__ = "0.1.0"
