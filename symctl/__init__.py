"""symctl: the front door (CLI and pipeline) over plants, synth, validation and codegen."""

__version__ = "0.1.0"
