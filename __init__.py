"""cramnet: a declarative architecture composer. Write a model as a `.cram` spec; check, summarise,
compile and train it."""

__version__ = "0.2.0"
