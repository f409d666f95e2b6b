"""A training that cannot fit in memory, or whose integer options overflow the trainers' int32
counters, is refused before anything is compiled, allocated or written (plastix.memory,
plastix.errors.check_at_most)."""

from __future__ import annotations

from pathlib import Path

import pytest

from plastix import memory
from plastix.cli import main
from plastix.dqn.config import DQNConfig
from plastix.errors import INT32_MAX, PlastixError, check_at_most, check_nonnegative_int, check_positive_int
from plastix.ppo.config import PPOConfig
from plastix.ppo.config import validate as validate_ppo
from plastix.train.supervised import SupervisedConfig
from plastix.train.supervised import validate as validate_supervised

F32 = 4  # bytes per float32


def supervised(**changes) -> SupervisedConfig:
    base = dict(task="adding", core="elman", hidden=8, seq_len=100, batch_size=32, num_updates=2, updates_per_log=1)
    return SupervisedConfig(**{**base, **changes})


def part(estimate: memory.Estimate, name: str) -> memory.Part:
    return next(p for p in estimate.parts if p.name == name)


# ---------------------------------------------------------------- the estimate against hand counts
def test_rtrl_elman_sensitivity_is_n_times_parameters_by_hand():
    n, d, B = 2048, 2, 32  # adding: inputs (value, marker), Hochreiter & Schmidhuber 1997
    n_theta = n * d + n * n + n  # Elman U (n, d), W (n, n), b (n,): 4,200,448 parameters
    found = memory.estimate(supervised(hidden=n, grad="rtrl", batch_size=B))
    # carry h (n,); three (n_s, n_θ) matrices per sequence (P_{t-1}, J_t P_{t-1}, direct term)
    assert part(found, "rtrl").nbytes == 3 * B * n * n_theta * F32
    assert found.dominant.name == "rtrl"
    assert 3.2e12 < found.nbytes < 3.4e12  # 3 × 32 × 2048 × 4.2M × 4 B = 3.30 TB


def test_parameters_part_is_params_gradient_and_adam_moments_by_hand():
    n, d, out = 8, 2, 1
    P = (n * d + n * n + n) + (out * n + out)  # Elman core + linear readout V (1, n), c (1,)
    found = memory.estimate(supervised(hidden=n), seeds=3)
    # params + gradient + Adam's m and v = 4 P floats per seed; optax's counters add a few bytes
    assert 4 * P * F32 * 3 <= part(found, "parameters").nbytes <= (4 * P * F32 + 64) * 3


def test_quick_bptt_count_is_the_plastic_carry_of_every_step_by_hand():
    n, T, B = 64, 100, 32
    n_s = n + n * n  # PlasticCarry: h (n,), hebb (n, n) (Miconi et al. 2018)
    quick = memory.estimate(supervised(core="plastic-rnn", hidden=n, seq_len=T, batch_size=B), exact=False)
    assert part(quick, "bptt").nbytes == T * B * n_s * F32
    # autodiff keeps more than the carry per step (the n × n Hebbian update, α ⊙ Hebb, ...), not 20x more
    exact = memory.estimate(supervised(core="plastic-rnn", hidden=n, seq_len=T, batch_size=B))
    assert T * B * n_s * F32 < part(exact, "bptt").nbytes < 20 * T * B * n_s * F32


def test_truncated_window_scales_bptt_by_h_over_T():
    full = part(memory.estimate(supervised(core="lstm", hidden=16, grad="truncated-bptt")), "bptt").nbytes
    window = part(memory.estimate(supervised(core="lstm", hidden=16, grad="truncated-bptt", trunc_window=10)),
                  "bptt").nbytes
    assert window == full * 10 // 100


def test_dqn_replay_memory_by_hand():
    N = 100_000
    # one stored Step on cartpole (4 observations): obs and next_obs 2 × 4 float32, action int32,
    # reward float32, terminated / truncated / start bool = 32 + 4 + 4 + 3 = 43 bytes
    found = memory.estimate(DQNConfig(task="cartpole", buffer_size=N), seeds=2)
    assert 2 * 43 * N <= part(found, "replay").nbytes <= 2 * (43 * N + 256)  # + flashbax's indices


def test_seeds_train_at_once_so_every_part_scales_with_them():
    from plastix.rl.trainer import RLConfig

    config = RLConfig(task="cartpole", core="gru", hidden=16, batch_size=4)
    one, five = memory.estimate(config), memory.estimate(config, seeds=5)
    assert [p.name for p in one.parts] == [p.name for p in five.parts]
    assert [5 * p.nbytes for p in one.parts] == [p.nbytes for p in five.parts]
    with pytest.raises(PlastixError, match="or train fewer than 5 seeds at once"):
        memory.check_memory(config, seeds=5, available=one.nbytes * 3)


def test_tabular_runs_have_no_estimate():
    from plastix.mdp.runner import GridConfig

    assert memory.estimate(GridConfig()) is None


# ---------------------------------------------------------------- the memory available
def test_memory_limit_variable_overrides_the_machine(monkeypatch):
    monkeypatch.setenv(memory.LIMIT_ENV, "8G")
    assert memory.available_bytes() == 8 * 10**9
    monkeypatch.setenv(memory.LIMIT_ENV, "2GiB")
    assert memory.available_bytes() == 2 * 2**30
    monkeypatch.setenv(memory.LIMIT_ENV, "0")
    assert memory.available_bytes() is None  # no check
    monkeypatch.setenv(memory.LIMIT_ENV, "lots")
    with pytest.raises(PlastixError, match="PLASTIX_MEMORY_LIMIT must be a size"):
        memory.available_bytes()


def test_available_memory_is_at_most_meminfo(monkeypatch):
    monkeypatch.delenv(memory.LIMIT_ENV, raising=False)
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        pytest.skip("no /proc/meminfo")
    fields = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in meminfo.read_text().splitlines()}
    available = memory.available_bytes()
    assert 0 < available <= fields["MemTotal"]


def test_format_bytes_and_sizes():
    assert memory.format_bytes(6.6e12) == "6.6 TB"
    assert memory.format_bytes(21.3e9) == "21.3 GB"
    assert memory.format_bytes(512) == "512 B"
    assert memory.parse_size("1.5e9") == 1_500_000_000
    assert memory.parse_size("512M") == 512 * 10**6


def test_check_memory_passes_what_fits_and_refuses_what_does_not():
    config = supervised()
    found = memory.check_memory(config, available=10**9)  # 1.9 MB fits in 1 GB
    assert found.nbytes < 10**7
    with pytest.raises(PlastixError, match=r"needs about 1\.\d MB .* but this machine has 1\.0 MB available"):
        memory.check_memory(config, available=10**6)


# ---------------------------------------------------------------- refusals through the CLI
def refused(argv, tmp_path, capsys) -> str:
    out = tmp_path / "run"
    code = main(["train", *argv, "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert "\n" not in err and err.startswith("plastix: error: ")  # one line, no traceback
    assert not out.exists()  # refused before any run directory
    return err


def test_cli_refuses_rtrl_on_a_wide_lstm(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(memory.LIMIT_ENV, "64G")
    err = refused(["adding", "--grad", "rtrl", "--hidden", "2048"], tmp_path, capsys)
    # LSTM carry (h, c): 4096 states; parameters 4 × 2048 × (2048 + 2 + 1) = 16.8M; 3 × 32 × 4096 × 16.8M × 4 B
    assert "needs about 26.4 TB (RTRL sensitivities 3 x 4096 states x 16.8M parameters x batch 32" in err
    assert "64.0 GB available (PLASTIX_MEMORY_LIMIT)" in err and "--grad bptt" in err


def test_cli_refuses_a_huge_hidden_layer_at_once(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(memory.LIMIT_ENV, "64G")
    err = refused(["adding", "--hidden", "100000000"], tmp_path, capsys)
    assert "PB (parameters, gradients and optimizer state" in err and "--hidden" in err


def test_memory_limit_refuses_a_small_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(memory.LIMIT_ENV, "100k")
    err = refused(["adding", "--core", "elman", "--hidden", "8", "--total-steps", "64"], tmp_path, capsys)
    assert "needs about 1.9 MB" in err and "100.0 kB available (PLASTIX_MEMORY_LIMIT)" in err


@pytest.mark.parametrize("argv, name, value", [
    (["adding", "--seq-len", "100000000000"], "seq_len", "100,000,000,000"),  # supervised
    (["cue-reward", "--total-steps", "99999999999999999999"], "total_steps", "99,999,999,999,999,999,999"),  # a2c
    (["cue-reward", "--algo", "reinforce", "--episodes", "4294967296"], "episodes", "4,294,967,296"),
    (["cartpole", "--algo", "dqn", "--total-steps", "99999999999999999999"], "total_steps",
     "99,999,999,999,999,999,999"),
    (["cartpole", "--algo", "ppo", "--total-steps", "99999999999999999999"], "total_steps",
     "99,999,999,999,999,999,999"),
])
def test_cli_refuses_integers_beyond_int32(argv, name, value, tmp_path, capsys):
    err = refused(argv, tmp_path, capsys)
    assert f"{name} must be at most 2,147,483,647" in err and f"got {value}." in err


# ---------------------------------------------------------------- integer bounds in the configs
def test_int_checks_accept_int32_max_and_refuse_one_more():
    assert check_positive_int("hidden", INT32_MAX) == INT32_MAX == 2**31 - 1
    assert check_nonnegative_int("burn_in", INT32_MAX) == INT32_MAX
    for check in (check_positive_int, check_nonnegative_int, check_at_most):
        with pytest.raises(PlastixError, match="must be at most 2,147,483,647 .* got 2,147,483,648"):
            check("n", 2**31)


def test_supervised_step_metric_must_fit_int32():
    config = supervised(num_updates=2**28, updates_per_log=2**28, batch_size=8)  # 2^31 sequences
    with pytest.raises(PlastixError, match="num_updates × batch_size"):
        validate_supervised(config)
    validate_supervised(supervised(num_updates=2**27, updates_per_log=2**27, batch_size=8))  # 2^30: fine


def test_ppo_optimizer_steps_must_fit_int32():
    # 499712 / 512 = 976 updates × 4 minibatches × 2^20 epochs > 2^31
    with pytest.raises(PlastixError, match="num_updates × update_epochs × num_minibatches"):
        validate_ppo(PPOConfig(update_epochs=2**20))


def test_dqn_counts_are_bounded():
    from plastix.dqn.config import validate as validate_dqn

    with pytest.raises(PlastixError, match="learning_starts must be at most 2,147,483,647"):
        validate_dqn(DQNConfig(learning_starts=2**31))
