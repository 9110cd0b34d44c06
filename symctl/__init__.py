"""symctl: the front door (CLI and pipeline) over plants, synth, validation and codegen."""

from plants._version import __version__

__all__ = ["__version__"]
