"""The one place smmsheet's version is written.

Read by the build (``[tool.setuptools.dynamic]`` in ``pyproject.toml``), by ``smmsheet
--version``, by ``smmsheet.__version__`` and by the client's ``User-Agent``.
"""

__version__ = "0.1.0"
