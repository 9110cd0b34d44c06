"""symctl: the front door (CLI, pipeline and Python API) over plants, synth, validation and codegen.

The Python API does what the commands do, with their defaults (`symctl._api`, `symctl._api_codegen`)::

    import symctl

    policy = symctl.synthesize("sho/partial", method="gp-d", budget="quick", seed=0)
    report = symctl.validate(policy, "sho/partial", out="runs/sho")
    c = symctl.generate_c(policy, "runs/sho/c", verify=True)
    summary = symctl.run("sho/partial")  # all three in one run folder, as `symctl run`

The names are imported on first use: `import symctl` loads neither JAX nor CasADi.
"""

from plants._lazy import lazy_attributes
from plants._version import __version__

# name -> module that holds it, imported on first use.
_LAZY = {
    "synthesize": "._api",
    "validate": "._api",
    "generate_c": "._api_codegen",
    "run": "._api",
    "RunSummary": "._results",
    "Validation": "._results",
    "CCode": "._results",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)


__all__ = ["__version__", *_LAZY]
