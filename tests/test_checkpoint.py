"""Checkpoints: one format for every method (arrays plus a versioned JSON header), read back
exactly, and refused with the file and the versions when they are not what this symctl reads."""

import json
import math

import numpy as np
import pytest

from synth import _checkpoint
from synth._runfolder import RunFolderError


def test_a_checkpoint_reads_back_exactly(tmp_path):
    arrays = {"code": np.arange(6, dtype=np.int32).reshape(2, 3), "cost": np.array([0.1, np.inf, np.nan], np.float32)}
    header = {"generation": 3, "history": [{"best": 1 / 3, "lost": math.inf, "validation": math.nan}]}
    folder = _checkpoint.save(tmp_path / "checkpoint", "symctl.test.checkpoint", 2, arrays, header)
    assert _checkpoint.exists(folder) and sorted(p.name for p in folder.iterdir()) == ["state.json", "state.npz"]
    got, head = _checkpoint.load(folder, "symctl.test.checkpoint", 2)
    assert head["format"] == "symctl.test.checkpoint" and head["version"] == 2 and head["generation"] == 3
    row = head["history"][0]
    assert row["best"] == 1 / 3 and row["lost"] == math.inf and math.isnan(row["validation"])  # floats as they were
    for k, v in arrays.items():
        assert got[k].dtype == v.dtype
        np.testing.assert_array_equal(got[k], v)


def test_another_format_or_version_is_refused_naming_the_file_and_the_versions(tmp_path):
    folder = _checkpoint.save(tmp_path / "checkpoint", "symctl.test.checkpoint", 1, {"a": np.zeros(2)}, {})
    with pytest.raises(
        RunFolderError,
        match=r"state\.json' is a 'symctl\.test\.checkpoint' checkpoint of version 1, "
        r"and this symctl reads version 2; run without --resume",
    ):
        _checkpoint.load(folder, "symctl.test.checkpoint", 2)
    with pytest.raises(
        RunFolderError,
        match=r"is not a 'symctl\.other\.checkpoint' checkpoint \(it names format "
        r"'symctl\.test\.checkpoint'\)",
    ):
        _checkpoint.load(folder, "symctl.other.checkpoint", 1)
    (folder / "state.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(RunFolderError, match=r"cannot read the checkpoint in .*; run without --resume"):
        _checkpoint.load(folder, "symctl.test.checkpoint", 1)
    (folder / "state.json").write_text("{}", encoding="utf-8")
    (folder / "state.npz").write_bytes(b"PK\x03\x04 not a zip file")
    with pytest.raises(RunFolderError, match=r"cannot read the checkpoint in"):
        _checkpoint.load(folder, "symctl.test.checkpoint", 1)
    (folder / "state.npz").unlink()
    assert not _checkpoint.exists(folder)


def test_espl_checkpoints_are_versioned_and_an_unversioned_one_is_refused(tmp_path):
    import jax.numpy as jnp

    from synth.espl._run import load_checkpoint, save_checkpoint

    state = {"iteration": jnp.asarray(4), "params": {"W": jnp.arange(3.0)}}
    best = {"W": jnp.ones(3)}
    meta = {"iteration": 4, "best_validation": None, "best_iteration": None, "history": [{"validation_cost": math.nan}]}
    save_checkpoint(tmp_path, state, best, meta)
    head = json.loads((tmp_path / "state.json").read_text())
    assert head["format"] == "symctl.espl.checkpoint" and head["version"] == 1
    got, got_best, got_meta = load_checkpoint(tmp_path, state, best)
    np.testing.assert_array_equal(got["params"]["W"], state["params"]["W"])
    assert got_best is None and math.isnan(got_meta["history"][0]["validation_cost"])
    # A state of another shape (other settings) is refused, not loaded.
    with pytest.raises(RunFolderError, match=r"does not hold the state of this run .*s\d.*; run without --resume"):
        load_checkpoint(tmp_path, {"iteration": jnp.asarray(0), "params": {"W": jnp.zeros(5)}}, best)
    # What ESPL wrote before its checkpoints had a version.
    (tmp_path / "state.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(RunFolderError, match=r"is not a 'symctl\.espl\.checkpoint' checkpoint \(it names no format"):
        load_checkpoint(tmp_path, state, best)


def test_gp_checkpoints_use_the_shared_format(tmp_path):
    from synth.gp import _checkpoint as gp_checkpoint

    _checkpoint.save(tmp_path / "checkpoint", gp_checkpoint.FORMAT, gp_checkpoint.VERSION + 1, {"code": np.zeros(2)}, {})
    assert gp_checkpoint.exists(tmp_path)
    with pytest.raises(
        RunFolderError,
        match=rf"'symctl\.gp\.checkpoint' checkpoint of version {gp_checkpoint.VERSION + 1}, "
        rf"and this symctl reads version {gp_checkpoint.VERSION}",
    ):
        gp_checkpoint.load(tmp_path)
