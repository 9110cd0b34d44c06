"""`symctl codegen`: files written, errors as one-line user errors, --verify end to end (slow)."""

import json
import shutil

import pytest
from test_codegen_policies import dynamic

from symctl.cli import main


def test_codegen_writes_files(tmp_path, capsys):
    pol = tmp_path / "policy.json"
    dynamic("rk4").save(pol)
    assert main(["codegen", str(pol), "--out", str(tmp_path / "c"), "--prefix", "hand", "--real", "double"]) == 0
    assert (tmp_path / "c" / "hand.h").exists() and (tmp_path / "c" / "hand.c").exists()
    assert (tmp_path / "c" / "example" / "main.c").exists() and (tmp_path / "c" / "hand.mk").exists()
    assert "double hand_real_t" in (tmp_path / "c" / "hand.h").read_text()
    assert main(["codegen", str(pol), "--out", str(tmp_path / "s"), "--single-header"]) == 0
    assert sorted(p.name for p in (tmp_path / "s").glob("*.h")) == ["test_hand_hand_rk4.h"]
    assert not list((tmp_path / "s").glob("*.c"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--real", "half"], "--real 'half'"),
        (["--target", "avr"], "--target 'avr'"),
        (["--prefix", "9x"], "--prefix '9x'"),
    ],
)
def test_codegen_user_errors(tmp_path, capsys, args, message):
    pol = tmp_path / "policy.json"
    dynamic("euler").save(pol)
    assert main(["codegen", str(pol), "--out", str(tmp_path / "c"), *args]) == 2
    assert message in capsys.readouterr().err


def test_codegen_lqg_needs_task(tmp_path, capsys):
    assert main(["codegen", "lqg", "--out", str(tmp_path)]) == 2
    assert "--task" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.compiler
@pytest.mark.skipif(not shutil.which("gcc"), reason="gcc is not installed")
def test_codegen_verify_lqg(tmp_path, capsys):
    out = tmp_path / "c"
    assert main(["codegen", "lqg", "--task", "sho/noisy", "--out", str(out), "--verify"]) == 0
    text = capsys.readouterr().out
    assert "PASS" in text and "host gcc: ok" in text
    report = json.loads((out / "verification.log.json").read_text())
    assert report["ok"] and report["ticks"] == 1500
