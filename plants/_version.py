"""The version of symctl (the distribution that holds plants, synth, validation, codegen and the CLI).

It lives in the lowest package so that every layer can read it without importing a higher one:
`symctl.__version__` re-exports it, codegen writes it into the header of generated C, and
pyproject.toml reads it from here (`[tool.setuptools.dynamic]`).
"""

__version__ = "0.1.0"
