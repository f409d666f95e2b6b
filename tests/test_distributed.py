"""Asynchronous actor-critic on Ray (plastix.distributed): the learner's arithmetic without Ray
(staleness, dropping, the optax step against optax called directly and against Adam in NumPy),
an actor's gradient against plastix.rl.trainer.gradients, and real runs on a local Ray: an
actor killed mid-run is replaced and the run reaches its budget; A3C with 2 actors learns CartPole.
"""

import dataclasses
import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from plastix.cli.distributed import distributed_config
from plastix.distributed import A3CConfig, Learner, admit, run_a3c
from plastix.distributed.a3c import check_config, initial_params
from plastix.distributed.actors import GradientWorker, actor_key
from plastix.errors import PlastixError
from plastix.rl.resolve import RL_PRESETS
from plastix.rl.trainer import build_setup, evaluate, gradients, init_state
from plastix.train.harness import make_optimizer

CARTPOLE = RL_PRESETS[("cartpole", "default")]  # a2c's cartpole setting: mlp hidden 32, Adam 1e-2, clip 1, γ 0.99
TINY = dataclasses.replace(CARTPOLE, batch_size=2, hidden=8, num_updates=12, updates_per_log=4)


# ---------------------------------------------------------------- the learner, no Ray
def test_admit_counts_staleness_by_hand():
    assert admit(5, 5, 4) == (True, 0)  # the current policy
    assert admit(9, 5, 4) == (True, 4)  # at the bound: kept
    assert admit(10, 5, 4) == (False, 5)  # one past it: dropped
    assert admit(1000, 0, None) == (True, 1000)  # no bound: Hogwild!-style, every gradient applied
    with pytest.raises(PlastixError, match="ahead of the learner"):
        admit(3, 4, 4)


def numpy_adam(theta, grads_seq, lr, clip, b1=0.9, b2=0.999, eps=1e-8):
    """Adam (Kingma & Ba 2015, Algorithm 1) after clipping each gradient to a global norm, in NumPy."""
    m = [np.zeros_like(t) for t in theta]
    v = [np.zeros_like(t) for t in theta]
    theta = [t.copy() for t in theta]
    for i, g in enumerate(grads_seq, start=1):
        norm = np.sqrt(sum(np.sum(x.astype(np.float64) ** 2) for x in g))
        g = [x * min(1.0, clip / norm) for x in g]
        m = [b1 * a + (1 - b1) * x for a, x in zip(m, g, strict=True)]
        v = [b2 * a + (1 - b2) * x * x for a, x in zip(v, g, strict=True)]
        theta = [t - lr * (a / (1 - b1**i)) / (np.sqrt(b / (1 - b2**i)) + eps)
                 for t, a, b in zip(theta, m, v, strict=True)]
    return theta


def test_learner_drops_stale_gradients_and_applies_the_rest_as_optax_and_numpy_adam():
    """Gradients computed at versions (0, 0, 0, 1, 1, 3), max_staleness 1. By hand (v = learner
    version at arrival, τ = v − v_k): (v0 τ0 ok) (v1 τ1 ok) (v2 τ2 drop) (v2 τ1 ok) (v3 τ2 drop)
    (v3 τ0 ok): 4 applied, 2 dropped, mean τ of the applied (0+1+1+0)/4 = 0.5, max 1. The
    parameters equal optax's update applied to the 4 accepted gradients, and Adam in NumPy."""
    optimizer = make_optimizer("adam", 0.05, None, 1.0, 10)
    params = {"w": jnp.asarray([[0.5, -1.0], [2.0, 0.25]], jnp.float32), "b": jnp.asarray([0.1, -0.3], jnp.float32)}
    rng = np.random.default_rng(0)
    grads = [{"w": rng.normal(size=(2, 2)).astype(np.float32), "b": rng.normal(size=2).astype(np.float32)}
             for _ in range(6)]
    learner = Learner(optimizer, params, max_staleness=1)
    receipts = [learner.receive(g, v) for g, v in zip(grads, (0, 0, 0, 1, 1, 3), strict=True)]
    assert [r.staleness for r in receipts] == [0, 1, 2, 1, 2, 0]
    assert [r.accepted for r in receipts] == [True, True, False, True, False, True]
    assert [r.version for r in receipts] == [1, 2, 2, 3, 3, 4]
    led = learner.ledger
    assert (led.applied, led.dropped, led.staleness_max, led.staleness_mean) == (4, 2, 1, 0.5)
    accepted = [grads[i] for i in (0, 1, 3, 5)]
    direct, state = params, optimizer.init(params)
    for g in accepted:  # optax called directly, step by step
        updates, state = optimizer.update(g, state, direct)
        direct = optax.apply_updates(direct, updates)
    for name in params:
        np.testing.assert_array_equal(np.asarray(learner.params[name]), np.asarray(direct[name]))
    names = sorted(params)  # Adam in NumPy (float64) after global-norm clipping to 1
    reference = numpy_adam([np.asarray(params[n], np.float64) for n in names],
                           [[g[n].astype(np.float64) for n in names] for g in accepted], lr=0.05, clip=1.0)
    for n, ref in zip(names, reference, strict=True):
        np.testing.assert_allclose(np.asarray(learner.params[n]), ref, rtol=2e-5, atol=2e-6)


def test_no_bound_applies_every_gradient_and_a_bad_bound_is_refused():
    learner = Learner(optax.sgd(1.0), {"x": jnp.zeros(2)}, max_staleness=None)
    for v in (0, 0, 0):
        learner.receive({"x": jnp.ones(2)}, v)
    assert learner.ledger.applied == 3 and learner.ledger.dropped == 0 and learner.ledger.staleness_max == 2
    np.testing.assert_array_equal(np.asarray(learner.params["x"]), [-3.0, -3.0])  # θ − 1·g three times
    with pytest.raises(PlastixError, match="max_staleness must be an integer >= 0"):
        Learner(optax.sgd(1.0), {"x": jnp.zeros(2)}, max_staleness=-1)


@pytest.mark.parametrize("change, message", [
    ({"actors": 0}, "actors must be a positive integer"),
    ({"rl": dataclasses.replace(TINY, algo="reinforce")}, "must be 'a2c'"),
    ({"rl": dataclasses.replace(TINY, burn_in_updates=3)}, "burn_in_updates is not available"),
    ({"max_replacements": -1}, "max_replacements must be an integer >= 0"),
    ({"rl": dataclasses.replace(TINY, task="no-such-env")}, "no-such-env"),
])
def test_bad_configs_are_refused_before_ray_starts(change, message):
    config = dataclasses.replace(A3CConfig(rl=TINY), **change)
    with pytest.raises(PlastixError, match=message):
        check_config(config)


def test_the_first_parameters_are_a2cs_for_the_same_seed():
    setup = build_setup(TINY)
    ours = initial_params(setup, 3)
    theirs = init_state(setup, jax.random.PRNGKey(3)).params
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_an_actor_computes_the_a2c_gradient_of_its_own_key_stream_and_traces_once():
    """The worker class run in this process (no Ray): its gradients equal
    plastix.rl.trainer.gradients with the keys of its stream (fold_in(PRNGKey(seed), stream),
    split once per gradient); two streams draw different episodes; the jit traces once."""
    setup = build_setup(TINY)
    params = initial_params(setup, 0)
    worker = GradientWorker(TINY, seed=0, stream=2)
    key = actor_key(0, 2)
    grad = jax.jit(functools.partial(gradients, setup))
    for version in (0, 1):
        report = worker.compute(jax.device_get(params), version)
        key, k_roll = jax.random.split(key)
        expected, _, ro = grad(params, k_roll)
        for a, b in zip(jax.tree.leaves(report.grads), jax.tree.leaves(expected), strict=True):
            np.testing.assert_allclose(a, np.asarray(b), rtol=1e-6, atol=1e-7)
        assert report.computed_at == version and report.env_steps == 2 * 500 and report.stream == 2
    assert report.traces == 1
    other = GradientWorker(TINY, seed=0, stream=3).compute(jax.device_get(params), 0)
    assert not np.allclose(jax.tree.leaves(other.grads)[0], jax.tree.leaves(report.grads)[0])


class FakeRay:
    """Just enough of Ray for ``Fleet``: tasks are answered at once; an actor in ``dead`` fails."""

    class exceptions:  # noqa: N801 — the attribute path ray.exceptions.RayActorError
        class RayActorError(Exception):
            pass

    def __init__(self):
        self.dead, self.killed = set(), []

    def wait(self, refs, num_returns=1):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        stream, value = ref
        if stream in self.dead:
            raise self.exceptions.RayActorError(f"actor of stream {stream} died")
        return value

    def kill(self, handle, no_restart=True):
        self.killed.append(handle.stream)


class FakeActor:
    def __init__(self, stream):
        self.stream = stream
        self.compute = self  # handle.compute.remote(x) -> an answered ref

    def remote(self, x):
        return (self.stream, (self.stream, x))


class FakeActorClass:
    @staticmethod
    def remote(stream):
        return FakeActor(stream)


def test_fleet_replaces_a_dead_actor_with_a_new_stream_and_gives_up_after_max_replacements():
    from plastix.distributed import Fleet

    ray = FakeRay()
    fleet = Fleet(ray, FakeActorClass, lambda stream: (stream,), size=2, max_replacements=1)
    fleet.start()
    assert fleet.streams == [0, 1]
    ray.dead.add(0)
    fleet.submit(0, "compute", "θ")
    assert fleet.next() == (0, None)  # actor 0 died: replaced in its slot by stream 2
    assert fleet.streams == [2, 1] and fleet.replaced == 1 and ray.killed == [0]
    fleet.submit(0, "compute", "θ")
    assert fleet.next() == (0, (2, "θ"))  # the replacement answers
    ray.dead.add(2)
    fleet.submit(0, "compute", "θ")
    with pytest.raises(PlastixError, match="at most 1 are replaced"):
        fleet.next()


def test_cli_parses_a3c_flags_into_the_a2c_setting():
    from plastix.cli.train import parse
    from plastix.rl.resolve import resolve_rl_config
    from plastix.cli.args import TrainArgs

    args = parse(["cartpole", "--algo", "a3c", "--actors", "3", "--max-staleness", "2", "--episodes", "8",
                  "--total-steps", "40000", "--ray-address", "10.0.0.1:6379", "--seed", "5"])
    config = distributed_config(args)
    assert (config.actors, config.max_staleness, config.seed, args.ray_address) == (3, 2, 5, "10.0.0.1:6379")
    # the same setting as `plastix train cartpole --algo a2c --episodes 8 --total-steps 40000`
    assert config.rl == resolve_rl_config(TrainArgs(task="cartpole", algo="a2c", episodes=8, total_steps=40000))
    assert config.rl.num_updates == 40000 // (8 * 500)
    with pytest.raises(PlastixError, match="--seeds not available"):
        distributed_config(parse(["cartpole", "--algo", "a3c", "--seeds", "2"]))


def test_cli_parses_dppo_flags_into_the_ppo_setting():
    from plastix.cli.args import TrainArgs
    from plastix.cli.train import parse
    from plastix.ppo.resolve import resolve_ppo_config

    config = distributed_config(parse(["cartpole", "--algo", "dppo", "--actors", "2", "--num-envs", "8",
                               "--total-steps", "65536"]))
    assert (config.actors, config.max_staleness) == (2, 1)  # DPPOConfig's default bound
    assert config.ppo == resolve_ppo_config(TrainArgs(task="cartpole", algo="ppo", num_envs=8, total_steps=65536))


@pytest.mark.slow
def test_a_dppo_actor_collects_the_ppo_rollout_of_its_key_stream_and_runs_its_environments_on():
    """The DPPO worker in this process (no Ray): two rollouts equal plastix.ppo.trainer.collect from
    reset_runner(setup, k_env) with (k_env, key) = split(fold_in(PRNGKey(seed), stream)), the
    runner carried from the first rollout into the second."""
    from plastix.distributed.dppo import RolloutWorker
    from plastix.ppo.config import PPOConfig
    from plastix.ppo.trainer import build_setup as ppo_setup, collect, init_state, reset_runner

    config = dataclasses.replace(PPOConfig(), num_envs=2, num_steps=16, hidden=8, total_steps=2 * 16 * 16)
    setup = ppo_setup(config)
    params = init_state(setup, jax.random.PRNGKey(0)).params
    worker = RolloutWorker(config, seed=0, stream=1)
    k_env, key = jax.random.split(actor_key(0, 1))
    runner = reset_runner(setup, k_env)
    for version in (0, 1):
        report = worker.collect(jax.device_get(params), version)
        key, k_roll = jax.random.split(key)
        runner, batch = collect(setup, params, runner, k_roll)
        for a, b in zip(jax.tree.leaves(report.batch), jax.tree.leaves(batch), strict=True):
            np.testing.assert_allclose(a, np.asarray(b), rtol=1e-6, atol=1e-6)
        assert report.computed_at == version and report.env_steps == 32 and report.traces == 1


# ---------------------------------------------------------------- real runs on a local Ray
@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning")
    yield ray
    ray.shutdown()


def kill_once(at_version: int, killed: list):
    """An ``on_arrival`` hook killing the actor in slot 0 once, when the learner reaches ``at_version``."""

    def hook(version, fleet):
        if version >= at_version and not killed:
            killed.append((version, fleet.streams[0]))
            fleet.ray.kill(fleet.handles[0], no_restart=True)

    return hook


def check_run_directory(result, rows_expected: int, algo: str = "a3c"):
    """metrics.csv holds one row per arriving gradient and agrees with the result's counts."""
    from plastix.runs import read_metrics

    rows = read_metrics(result.run_dir)
    assert len(rows) == rows_expected
    accepted = [r for r in rows if r["distributed/accepted"] == 1.0]
    assert len(accepted) == result.applied and len(rows) - len(accepted) == result.dropped
    assert max(r["distributed/staleness"] for r in accepted) == result.staleness_max == rows[-1]["distributed/staleness_max"]
    np.testing.assert_allclose(np.mean([r["distributed/staleness"] for r in accepted]), result.staleness_mean)
    assert [r["step"] for r in rows] == sorted(r["step"] for r in rows)
    for name in ("config.json", "params.npz", "train.log"):
        assert (result.run_dir / name).is_file()
    assert len(list((result.run_dir / "checkpoints").iterdir())) == 1
    saved = json.loads((result.run_dir / "config.json").read_text())["config"]
    assert saved["algo"] == algo and saved["distributed"]["actors"] == result.config.actors
    return rows


@pytest.mark.slow
def test_a_killed_actor_is_replaced_and_the_run_reaches_its_budget(ray_session, tmp_path):
    """One of 2 actors killed at update 10 of 40. Once its replacement has a task, the hook holds
    the learner until that task is done (a fresh actor's start-up — a process importing JAX and
    compiling — takes longer than the rest of this tiny run), so the replacement's gradient,
    computed from parameters the learner sent it, is seen to arrive and be used."""
    config = A3CConfig(rl=dataclasses.replace(TINY, num_updates=40), actors=2, max_staleness=4, seed=1)
    killed: list = []
    kill = kill_once(10, killed)
    waited: list = []

    def hook(version, fleet):
        kill(version, fleet)
        if killed and fleet.replaced == 1 and not waited:
            waited.append(fleet.ray.wait([r for r, slot in fleet.pending.items() if slot == 0], timeout=600))

    result = run_a3c(config, out=str(tmp_path / "run"), quiet=True, no_plot=True, on_arrival=hook)
    assert len(killed) == 1 and result.replaced == 1
    assert result.applied == 40 and result.traces == 1
    rows = check_run_directory(result, 40 + result.dropped)
    (version, stream), = killed
    assert stream == 0 and result.actor_streams == (2, 1)  # slot 0 now holds a new key stream
    # nothing of the killed actor arrives after its death (its rows, if any, came at learner
    # versions <= the kill's; on a loaded machine its first gradient may not have come before
    # the kill, while the other actor delivered all of the first 10)
    assert all(r["distributed/version"] <= version for r in rows if r["distributed/actor_stream"] == 0)
    replacement = [r for r in rows if r["distributed/actor_stream"] == 2]
    assert replacement and replacement[0]["distributed/accepted"] == 1.0  # its gradient was applied
    assert rows[-1]["distributed/replaced"] == 1.0


@pytest.mark.learning
def test_a3c_with_two_actors_learns_cartpole_despite_a_killed_actor(ray_session, tmp_path):
    """a2c's cartpole setting with B = 16 episodes per gradient and the step size decaying
    linearly from 1e-2 to 0, 2 actors, 500 applied updates, one actor killed at update 150: the
    final policy's mean return over 100 fresh episodes (sampled actions) is at least 150 — a
    random policy gets ≈ 22. The order in which gradients arrive differs from run to run, so one
    seed is not one result: with a constant step size the final return of this seed ranged from
    46 to 455 over repeats; with the decay, 281 to 328 over 5 repeats (docs/distributed.md)."""
    import plastix

    rl = dataclasses.replace(CARTPOLE, batch_size=16, num_updates=500, updates_per_log=50, lr_end=0.0)
    killed: list = []
    result = run_a3c(A3CConfig(rl=rl, actors=2, max_staleness=4, seed=0), out=str(tmp_path / "run"), quiet=True,
                     on_arrival=kill_once(150, killed))
    assert result.replaced == 1 and result.applied == 500 and result.actor_streams == (2, 1)
    assert 0.0 < result.staleness_mean <= 4 and result.staleness_max <= 4
    check_run_directory(result, 500 + result.dropped)
    assert (result.run_dir / "curves.png").is_file()
    setup = build_setup(rl)
    returns = np.asarray(evaluate(setup, result.params, jax.random.PRNGKey(123), 100))
    assert returns.mean() >= 150.0, returns.mean()
    random_params = initial_params(setup, 0)
    assert np.asarray(evaluate(setup, random_params, jax.random.PRNGKey(123), 100)).mean() < 50.0
    run = plastix.load(result.run_dir)  # the run reads back as the a2c run of its setting
    for a, b in zip(jax.tree.leaves(run.params), jax.tree.leaves(result.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a)[0], np.asarray(b))


@pytest.mark.learning
def test_dppo_with_two_actors_learns_cartpole_despite_a_killed_actor(ray_session, tmp_path):
    """PPO's cartpole setting (PureJaxRL's) with 8 environments × 128 steps per actor rollout, 2
    actors, 256 learner updates, max_staleness 1, one actor killed at update 60: the greedy
    policy's mean return over 100 fresh episodes is at least 200 — random ≈ 22 (measured: 480 on
    this seed, docs/distributed.md)."""
    from plastix.distributed import DPPOConfig, run_dppo
    from plastix.ppo.config import PPOConfig
    from plastix.ppo.trainer import build_setup as ppo_setup, evaluate as ppo_evaluate

    ppo = dataclasses.replace(PPOConfig(), num_envs=8, total_steps=256 * 8 * 128, updates_per_log=16)
    killed: list = []
    result = run_dppo(DPPOConfig(ppo=ppo, actors=2, max_staleness=1, seed=0), out=str(tmp_path / "run"),
                      quiet=True, no_plot=True, on_arrival=kill_once(60, killed))
    assert result.replaced == 1 and result.applied == 256 and result.actor_streams == (2, 1)
    assert result.staleness_max <= 1 and result.traces == 1
    check_run_directory(result, 256 + result.dropped, "dppo")
    returns = np.asarray(ppo_evaluate(ppo_setup(ppo), result.params, jax.random.PRNGKey(123), 100))
    assert returns.mean() >= 200.0, returns.mean()
