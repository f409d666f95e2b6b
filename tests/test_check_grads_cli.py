"""``plastix check-grads`` and ``plastix influence`` through tyro, as the dispatcher builds them."""

import importlib
import json

import jax
import numpy as np
import pytest
import tyro

from plastix.cli.grads import CheckGradsArgs, InfluenceArgs, parse_options
from plastix.cores import make_core
from plastix.errors import PlastixError
from plastix.grads import GradMethod, SeqModel, bptt, input_influence

rtrl_module = importlib.import_module("plastix.grads.rtrl")  # the package re-exports a function named rtrl

KEYS = {"core", "hidden", "steps", "input_size", "seed", "n_params", "fd_coords", "max_rel_err", "tolerance", "ok"}


def test_check_grads_json_prints_one_object(capsys):
    args = tyro.cli(CheckGradsArgs, args=["--core", "elman", "--hidden", "3", "--steps", "5", "--json"])
    assert args.run() == 0
    out = capsys.readouterr().out
    result = json.loads(out)  # the whole of stdout is one JSON object
    assert set(result) == KEYS and result["ok"] is True
    assert set(result["max_rel_err"]) == {"hand-bptt", "rtrl", "truncated-bptt", "finite-diff"}
    assert result["tolerance"]["rtrl"] == 1e-8 and result["tolerance"]["finite-diff"] == 1e-5
    assert max(result["max_rel_err"].values()) < 1e-5


@pytest.mark.slow
def test_check_grads_exit_code_is_one_on_a_wrong_gradient(monkeypatch, capsys):
    def doubled(model, params, batch):
        loss, g = bptt().value_and_grad(model, params, batch)
        return loss, jax.tree.map(lambda a: 2.0 * a, g)

    monkeypatch.setattr(rtrl_module, "rtrl", lambda: GradMethod("rtrl", doubled))
    args = CheckGradsArgs(core="neuromod-rnn", hidden=2, steps=4, opt=("modulation=simple",))
    assert args.run() == 1
    assert "FAIL" in capsys.readouterr().out


def test_check_grads_unknown_core():
    with pytest.raises(PlastixError, match="Did you mean 'gru'"):
        CheckGradsArgs(core="gruu").run()


def test_parse_options():
    assert parse_options(("modulation=simple", "eta-init=0.5", "n=3", "x=true")) == {
        "modulation": "simple", "eta_init": 0.5, "n": 3, "x": True}
    with pytest.raises(PlastixError, match="KEY=VALUE"):
        parse_options(("modulation",))


@pytest.mark.slow
def test_influence_json_matches_the_library(tmp_path, capsys):
    out = tmp_path / "inf.png"
    args = tyro.cli(InfluenceArgs, args=["--core", "elman", "--core", "gru", "--steps", "6", "--hidden", "3",
                                         "--out", str(out), "--json"])
    assert args.core == ("elman", "gru")
    assert args.run() == 0
    result = json.loads(capsys.readouterr().out)
    assert out.read_bytes()[:4] == b"\x89PNG"
    # the same computation by hand: key split as documented, one float32 sequence
    k_par, k_x = jax.random.split(jax.random.PRNGKey(0))
    xs = jax.random.normal(k_x, (6, 1), "float32")
    for name in ("elman", "gru"):
        model = SeqModel(make_core(name, 1, 3), 1)
        expected = input_influence(model, model.init(k_par), xs)
        np.testing.assert_allclose(result["norms"][name], expected, rtol=1e-6)
