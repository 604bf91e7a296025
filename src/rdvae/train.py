"""Train every (beta, seed) member of one configuration together (paper section 4.3).

Members are grouped into stacks (:class:`~rdvae.models.StackedVAE`) that run as batched kernels; on
a GPU one stack holds all M members.  On a CPU the batched kernels buy nothing (the GEMMs are already
large) and grouped convolutions are slower than plain ones, so the default there is ``CPU_STACK``:
stacks of 4 for MLPs (1.02x the looped speed for MLP-1) and of 1 for CNNs
(``benchmarks/bench_train.py``).  Each member has its own initialisation, minibatch order and
reparameterisation noise (independent generators derived from its seed), and the loss of the stack is
the sum of the members' losses, so member m's gradients, Adam state and numbers are those of member m
trained alone, up to float rounding (tested).

Loss of member m on its minibatch: mean_b [D(x_b) + beta_m R(x_b)] = -L_beta (paper eq. 1, 6),
Bernoulli distortion with one reparameterised sample, analytic rate; or one of the objective
variants of appendix A-8 (:func:`member_losses`).  Adam (fused), constant learning rate, no KL
annealing.

Early stopping (SPEC A-3, ``config.early_stopping``): a validation fraction of the training set is
held out; at every evaluation each member's -L_beta on it is compared with its best so far and the best
parameters are kept.  A member that has gone ``patience`` evaluations without improving has stopped:
its best parameters are final and its learning curve ends there.  It still steps inside its stack
(taking it out would cost more than it saves), but nothing it does afterwards counts, neither a later
improvement nor a divergence.  Training ends once every member has stopped, and the final metrics are
those of each member's best parameters.  So a member's numbers do not depend on the members it was
trained with, and an early-stopping configuration can be trained a seed at a time
(:func:`rdvae.store.seed_shards`).

Robustness: a checkpoint (models, Adam states, every generator, the epoch permutations, the
learning curves) is written atomically to the cache folder every ``checkpoint_seconds`` and on
SIGINT/SIGTERM; running the same configuration again resumes it and ends with the same numbers as an
uninterrupted run.  A finished run deletes its checkpoint, or keeps it (:mod:`rdvae.kept_states`) so
that the same configuration trained for more iterations later continues from it.  A member whose
loss becomes NaN/inf is recorded as diverged with its last good metrics; since members share no
parameters, the others go on unaffected.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

import rdvae
from rdvae import estimators, kept_states, paths, store
from rdvae.config import DEFAULT_OBJECTIVE, RunConfig
from rdvae.data import sources
from rdvae.device import cpu_model, cuda_fp32_precision, denormals_flushed, resolve_device
from rdvae.models import StackedVAE, get_architecture, member_generator
from rdvae.pauses import PauseClock

CPU_STACK = {"mlp": 4, "cnn": 1}  # members per stack on a CPU, by architecture kind; all members on a GPU
CURVE_SEED = 1_234_567  # picks the fixed example subsets of the learning curves


class Interrupted(KeyboardInterrupt):
    """Training stopped by SIGINT/SIGTERM after writing a checkpoint."""


@dataclass
class TrainingData:
    """Training images resident on the device, and the index sets of both partitions."""

    train_idx: np.ndarray  # indices into factors() actually trained on
    test_idx: np.ndarray
    train: torch.Tensor  # (N_train, C, 32, 32) on the device
    validation_idx: np.ndarray | None = None  # held out of the training set for early stopping

    @classmethod
    def load(cls, config: RunConfig, device: torch.device) -> TrainingData:
        train_idx, test_idx = sources.get_split(config.dataset, config.split)
        if config.train_limit is not None and config.train_limit < len(train_idx):
            rng = np.random.default_rng(0)
            train_idx = np.sort(rng.choice(train_idx, size=config.train_limit, replace=False))
        validation_idx = None
        if config.early_stopping:
            order = np.random.default_rng(1).permutation(len(train_idx))
            n_validation = config.validation_size(len(train_idx))
            validation_idx = np.sort(train_idx[order[:n_validation]])
            train_idx = np.sort(train_idx[order[n_validation:]])
        images = torch.from_numpy(sources.image_source(config.dataset)(train_idx)).to(device)
        return cls(train_idx, test_idx, images, validation_idx)


def member_losses(
    model: StackedVAE,
    x: torch.Tensor,
    noise: torch.Tensor,
    betas: torch.Tensor,
    objective: str = DEFAULT_OBJECTIVE,
    n_data: int | None = None,
):
    """Per-member loss, distortion and rate, each (M,), for x (M, B, C, 32, 32), noise (M, B, d).

    The loss is the objective's on this minibatch: for the beta-VAE, mean_b [D(x_b) + beta R(x_b)] =
    -L_beta (paper eq. 1, 6) with the analytic rate.  The variants of appendix A-8 (SPEC d.5) keep one
    part of the rate, estimated over the minibatch as a sample of the ``n_data`` training points
    (:func:`rdvae.estimators.mi_and_marginal_kl`): "mi-removed" mean_b D + beta KL_hat(q(z)||p(z)),
    "marginal-kl-removed" mean_b D + beta I_hat(x;z).  Distortion and (analytic) rate are returned
    either way.
    """
    mu, logvar = model.encode(x)
    z = estimators.reparameterise(mu, logvar, noise)  # (M, B, d)
    logits = model.decode(z)
    distortion = estimators.bernoulli_nll(x.flatten(2), logits).mean(1)  # (M,)
    rate = estimators.rate(mu, logvar).mean(1)  # (M,)
    if objective == DEFAULT_OBJECTIVE:
        penalty = rate
    else:
        mi, marginal_kl = estimators.mi_and_marginal_kl(z, mu, logvar, n_data, noise=noise)  # each (M,)
        penalty = {"mi-removed": marginal_kl, "marginal-kl-removed": mi}[objective]
    return distortion + betas * penalty, distortion, rate


def _adam(params, lr: float, device: torch.device) -> torch.optim.Adam:
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):  # fused Adam unavailable for this device/build
        return torch.optim.Adam(params, lr=lr)


def git_commit() -> str | None:
    """The checkout's commit, for provenance, with ``-dirty`` appended where tracked files differ
    from it; ``$RDVAE_GIT_COMMIT`` where the code runs from a copy of the working tree without its
    ``.git`` (a lent GPU machine)."""
    here = Path(__file__).parent
    head = _git(here, "rev-parse", "HEAD")
    if not head:
        return os.environ.get("RDVAE_GIT_COMMIT") or None
    return f"{head}-dirty" if _git(here, "status", "--porcelain", "--untracked-files=no") else head


def _git(cwd: Path, *args: str) -> str:
    """``git args`` run in ``cwd``: its output, or "" where git or the checkout is missing."""
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


class Trainer:
    """The training state of one configuration; :meth:`run` trains (or resumes) to completion."""

    def __init__(
        self,
        config: RunConfig,
        device: str | torch.device = "cpu",
        stack_size: int | None = None,
        tf32: bool | None = None,
        flush_denormal: bool = True,
    ):
        self.config = config
        self.device = resolve_device(str(device))
        # TF32 tensor cores for float32 matmuls and convolutions: on by default on a GPU (several times
        # the fp32 throughput, ~1e-3 relative error in each product); meaningless on a CPU
        self.tf32 = (self.device.type == "cuda") if tf32 is None else (tf32 and self.device.type == "cuda")
        # Denormal floats (|x| < 1.2e-38) flushed to zero in CPU arithmetic.  Decoder logits of pixels
        # that are black in every image keep falling, so their gradients and Adam's moments underflow
        # into denormals (15 % of an MLP-3 run's values at iteration 4,500), which x86 CPUs compute
        # many times slower: its steps took 2.2x as long (benchmarks/bench_denormal.py).  Flushing
        # changes only values 1e-30 below the others (Adam's update divides by sqrt(v) + 1e-8).  The
        # flag is per thread: `rdvae train` sets it before torch starts its threads, and
        # :meth:`precision` records in :attr:`denormals_flushed` where it held, for provenance.
        self.flush_denormal = flush_denormal
        self.denormals_flushed: tuple[bool, bool] | None = None
        self.data = TrainingData.load(config, self.device)
        self.members = config.members
        m_total = len(self.members)
        kind = get_architecture(config.arch).kind
        size = stack_size or (m_total if self.device.type == "cuda" else CPU_STACK[kind])
        self.groups = [list(range(a, min(a + size, m_total))) for a in range(0, m_total, size)]
        # the same groups as slices: indexing device tensors with a slice needs no host-device sync
        self.group_slices = [slice(g[0], g[-1] + 1) for g in self.groups]
        seeds = [seed for _, seed in self.members]
        shape = tuple(self.data.train.shape[1:])
        self.models = [
            StackedVAE(config.arch, [seeds[m] for m in g], shape).to(self.device) for g in self.groups
        ]
        self.images = sources.image_source(config.dataset)
        self.optimizers = [_adam(model.parameters(), config.lr, self.device) for model in self.models]
        self.betas = torch.tensor([beta for beta, _ in self.members], device=self.device)
        self.order_generators = [member_generator(seed, 1) for seed in seeds]
        self.noise_generators = [member_generator(seed, 2, self.device) for seed in seeds]
        self.iteration = 0
        self.position = math.inf  # forces a fresh epoch permutation on the first step
        self.permutations: torch.Tensor | None = None  # (M, N_train) on the device
        self.next_permutations: torch.Tensor | None = None  # the following epoch's, copied one epoch ahead
        self.nonfinite = torch.zeros(m_total, dtype=torch.bool, device=self.device)
        self.diverged_at: list[int | None] = [None] * m_total
        self.curves: list[dict] = []
        self.elapsed = 0.0  # seconds of training, including those of a shorter run it extends
        self.paused = 0.0  # seconds the process was stopped while training, left out of ``elapsed``
        # (iteration, elapsed) when this process began training: the speed since then is this
        # machine's speed under its present load, which ``rdvae progress`` forecasts from
        self.resumed_at = (0, 0.0)
        self.extended_from: str | None = None  # the run id of the kept state it continued, if any
        # how :func:`train_and_store` finishes this run: the store folder its results go to and whether
        # it keeps the final state; in the checkpoint, so ``rdvae progress`` can print the command
        # that resumes the run the same way
        self.finish: dict = {"store": None, "keep_state": False}
        # the commit of the code this process runs, taken now: HEAD may move while a run trains; a
        # resumed or extended run appends its own to those of the processes before it
        self.commits: list[str | None] = [git_commit()]
        # the machine of each process that trained it, from the iteration that process began at (a
        # run resumed on another CPU kind takes other rounding from there; one entry per change)
        self.machines: list[dict] = [{"from_iteration": 0, "machine": self.device_name()}]
        rng = np.random.default_rng(CURVE_SEED)
        self.curve_idx = {
            name: np.sort(rng.choice(idx, min(config.curve_examples, len(idx)), replace=False))
            for name, idx in (("train", self.data.train_idx), ("test", self.data.test_idx))
        }
        # early stopping: per member, the best validation -L_beta, when, and those parameters
        self.best_loss = [math.inf] * m_total
        self.best_iteration: list[int | None] = [None] * m_total
        self.best_state: dict[int, dict[str, torch.Tensor]] = {}
        self.stopped_at: list[int | None] = [None] * m_total  # when each member's patience ran out
        self.stopped_early = False
        if config.early_stopping:
            self.curve_idx["validation"] = self.data.validation_idx[: max(config.curve_examples, 2048)]

    # ----------------------------------------------------------------------------------- training
    def _draw_epoch(self) -> torch.Tensor:
        """Every member's permutation of the training set for one epoch, from its own generator on
        the CPU, sent to the device without blocking (from pinned memory on a GPU)."""
        n = len(self.data.train_idx)
        perms = torch.stack([torch.randperm(n, generator=g) for g in self.order_generators])  # (M, N)
        if self.device.type == "cuda":
            perms = perms.pin_memory()
        return perms.to(self.device, non_blocking=True)

    def _next_batch(self) -> torch.Tensor:
        n, batch = len(self.data.train_idx), self.config.batch_size
        if self.position + batch > n:  # a new epoch; the one after it is drawn now, so its copy
            # overlaps this epoch's steps instead of stalling the first step of the next
            current = self.next_permutations
            self.permutations = current if current is not None else self._draw_epoch()
            self.next_permutations = self._draw_epoch()
            self.position = 0
        rows = self.permutations[:, self.position : self.position + batch]  # (M, B)
        self.position += batch
        return rows

    def step(self) -> None:
        rows = self._next_batch()
        latent = self.models[0].arch.latent_dim
        for group, members, model, optimizer in zip(
            self.groups, self.group_slices, self.models, self.optimizers, strict=True
        ):
            x = self.data.train[rows[members]]  # (G, B, C, 32, 32)
            noise = torch.stack(
                [
                    torch.randn(
                        self.config.batch_size, latent, generator=self.noise_generators[m], device=self.device
                    )
                    for m in group
                ]
            )  # (G, B, d), each member from its own stream
            loss, _, _ = member_losses(
                model, x, noise, self.betas[members], self.config.objective, len(self.data.train_idx)
            )
            optimizer.zero_grad(set_to_none=True)
            loss.sum().backward()  # members share no parameters: each gets its own gradient
            optimizer.step()
            self.nonfinite[members] |= ~torch.isfinite(loss.detach())
        self.iteration += 1

    @torch.no_grad()
    def evaluate_curves(self) -> None:
        """Rate and distortion of every member on fixed subsets of both partitions (learning curves)."""
        newly = [m for m in torch.nonzero(self.nonfinite).flatten().tolist() if self.counts(m)]
        for m in newly:
            self.diverged_at[m] = self.iteration
        for partition, idx in self.curve_idx.items():
            x = torch.from_numpy(self.images(idx)).to(self.device)
            for group, members, model in zip(self.groups, self.group_slices, self.models, strict=True):
                xs = x.expand(len(group), *x.shape)  # (G, n, C, 32, 32): same images for every member
                noise = self.member_noise(group, len(idx), stream=3)
                loss, distortion, rate = member_losses(model, xs, noise, self.betas[members])
                loss, distortion, rate = loss.tolist(), distortion.tolist(), rate.tolist()  # one sync each
                for k, m in enumerate(group):
                    if not self.counts(m):
                        continue
                    beta, seed = self.members[m]
                    row = {"partition": partition, "rate": rate[k], "distortion": distortion[k]}
                    self.curves.append({"iteration": self.iteration, "beta": beta, "seed": seed, **row})
                    if partition == "validation" and loss[k] < self.best_loss[m]:
                        self.best_loss[m], self.best_iteration[m] = loss[k], self.iteration
                        self.best_state[m] = {key: v.cpu() for key, v in model.member_state(k).items()}

    def counts(self, m: int) -> bool:
        """Does member m's training still count: it has neither diverged nor stopped early?"""
        return self.diverged_at[m] is None and self.stopped_at[m] is None

    def patience_ran_out(self, iteration: int, best_at: int) -> bool:
        """Has a member whose best validation loss came at ``best_at`` gone ``patience`` evaluations
        (``patience * eval_every`` iterations) without improving, by ``iteration``?"""
        return iteration - best_at >= self.config.patience * self.config.eval_every

    def stop_members(self) -> None:
        """Early stopping, after an evaluation: every counting member whose patience ran out stops now."""
        for m in range(len(self.members)):
            best = self.best_iteration[m]
            if self.counts(m) and best is not None and self.patience_ran_out(self.iteration, best):
                self.stopped_at[m] = self.iteration

    @torch.no_grad()
    def restore_best(self) -> None:
        """Early stopping: put each member's best validation parameters back into its stack."""
        for group, model in zip(self.groups, self.models, strict=True):
            for k, m in enumerate(group):
                if m in self.best_state:
                    model.load_member_state(
                        k, {key: v.to(self.device) for key, v in self.best_state[m].items()}
                    )

    def member_noise(self, group: list[int], n: int, stream: int) -> torch.Tensor:
        """Standard-normal noise (G, n, d) for evaluation: fresh per member from (seed, stream), so it
        depends neither on the stack layout nor on the training streams."""
        latent = self.models[0].arch.latent_dim
        draws = [
            torch.randn(
                n,
                latent,
                generator=member_generator(self.members[m][1], stream, self.device),
                device=self.device,
            )
            for m in group
        ]
        return torch.stack(draws)

    # ---------------------------------------------------------------------------------- checkpoints
    def checkpoint_path(self) -> Path:
        return paths.checkpoint_file(self.config.run_id)

    def state(self) -> dict:
        return {
            "config": self.config.to_json(),
            "iteration": self.iteration,
            "position": self.position,
            "permutations": None if self.permutations is None else self.permutations.cpu(),
            "next_permutations": None if self.next_permutations is None else self.next_permutations.cpu(),
            "models": [model.state_dict() for model in self.models],
            "optimizers": [opt.state_dict() for opt in self.optimizers],
            "groups": self.groups,
            "order_generators": [g.get_state() for g in self.order_generators],
            "noise_generators": [g.get_state() for g in self.noise_generators],
            "nonfinite": self.nonfinite.cpu(),
            "diverged_at": self.diverged_at,
            "stopped_at": self.stopped_at,
            "curves": self.curves,
            "elapsed": self.elapsed,
            "paused": self.paused,
            "resumed_at": self.resumed_at,
            "best": (self.best_loss, self.best_iteration, self.best_state, self.stopped_early),
            "flush_denormal": self.flush_denormal,
            # where denormals were flushed while training: "all threads", "main thread" or "no"
            "denormals_flushed": _describe_flushing(self.denormals_flushed),
            "commits": self.commits,
            "machines": self.machines,
            "launch": {"device": self.device.type, **self.finish},
        }

    def save_checkpoint(self) -> Path:
        path = self.checkpoint_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp-{os.getpid()}")
        torch.save(self.state(), tmp)
        os.replace(tmp, path)
        return path

    def load_checkpoint(self) -> bool:
        """Restore from this config's checkpoint if there is one; False if there is none."""
        path = self.checkpoint_path()
        if not path.exists():
            return False
        state = _read_state(path)
        self._require_layout(state, path, state["config"], "resume with the same --device/stack size")
        self._restore(state, path)
        return True

    def extend(self, path: Path) -> None:
        """Continue from the kept final state at ``path``: this configuration trained for fewer
        iterations (:func:`rdvae.kept_states.extendable` finds it); records its run id."""
        state = _read_state(path)
        shorter = RunConfig.from_json(state["config"])
        as_this = {**shorter.to_json(), "iterations": self.config.iterations}  # all else must agree
        self._require_layout(state, path, as_this, "train with the stack size it was trained with")
        self._restore(state, path)
        self.extended_from = shorter.run_id

    def _require_layout(self, state: dict, path: Path, saved_config: dict, fix: str) -> None:
        """Refuse a saved state whose configuration (``saved_config``, as it compares with this run's)
        or stack layout differs from this trainer's; ``fix`` says what to do instead."""
        if saved_config != self.config.to_json() or state["groups"] != self.groups:
            raise RuntimeError(
                f"{path} was written for another configuration or stack layout; {fix}, "
                "or delete it to start afresh"
            )

    def _restore(self, state: dict, path: Path) -> None:
        started_with = state.get("flush_denormal", False)  # checkpoints from before the flag kept them
        if started_with != self.flush_denormal:
            flag = "--flush-denormal" if started_with else "--no-flush-denormal"
            raise RuntimeError(
                f"checkpoint {path} was trained with flush_denormal={started_with}; resume it with "
                f"{flag} (a run keeps the arithmetic it started with), or delete it to start afresh"
            )
        for model, saved in zip(self.models, state["models"], strict=True):
            model.load_state_dict(saved)
        for opt, saved in zip(self.optimizers, state["optimizers"], strict=True):
            opt.load_state_dict(saved)
        for g, saved in zip(self.order_generators, state["order_generators"], strict=True):
            g.set_state(saved)
        for g, saved in zip(self.noise_generators, state["noise_generators"], strict=True):
            g.set_state(saved)
        self.iteration, self.position = state["iteration"], state["position"]
        perms, following = state["permutations"], state.get("next_permutations")  # absent: older checkpoints
        self.permutations = None if perms is None else perms.to(self.device)
        self.next_permutations = None if following is None else following.to(self.device)
        self.nonfinite = state["nonfinite"].to(self.device)
        self.diverged_at, self.curves, self.elapsed = state["diverged_at"], state["curves"], state["elapsed"]
        self.paused = state.get("paused", 0.0)  # absent: checkpoints from before pauses were left out
        self.best_loss, self.best_iteration, self.best_state, self.stopped_early = state["best"]
        if "stopped_at" in state:
            self.stopped_at = state["stopped_at"]
        elif self.config.early_stopping:  # a checkpoint from before members stopped one by one
            self.replay_stops(path)
        before = state.get("commits", [])  # absent: checkpoints from before commits were kept
        self.commits = before + [c for c in self.commits if not before or c != before[-1]]
        # absent: checkpoints from before machines were kept, whose earlier processes' are unknown
        before = state.get("machines") or [{"from_iteration": 0, "machine": None}]
        this = self.machines[-1]["machine"]
        if before[-1]["machine"] != this:
            before = [*before, {"from_iteration": self.iteration, "machine": this}]
        self.machines = before

    def replay_stops(self, path: Path) -> None:
        """For a checkpoint of the earlier rule, which trained every member until the last one stopped:
        stop each member where :meth:`stop_members` would have, from its validation curve, and drop its
        curve rows (and a divergence) after that.  Its best parameters are the ones kept, unless it
        improved after its patience ran out; such a checkpoint (at ``path``) cannot be converted and is
        refused."""
        for m, (beta, seed) in enumerate(self.members):
            best, best_at = math.inf, None
            for row in self.curves:
                if (row["partition"], row["beta"], row["seed"]) != ("validation", beta, seed):
                    continue
                loss = row["distortion"] + beta * row["rate"]
                if loss < best:
                    best, best_at = loss, row["iteration"]
                if self.patience_ran_out(row["iteration"], best_at):
                    self.stopped_at[m] = row["iteration"]
                    break
            if self.stopped_at[m] is not None and best_at != self.best_iteration[m]:
                raise ValueError(
                    f"checkpoint {path}: member beta={beta:g}, seed={seed} improved at "
                    f"iteration {self.best_iteration[m]:,}, after its patience ran out at "
                    f"{self.stopped_at[m]:,}; delete the checkpoint and train the run again"
                )
            if self.stopped_at[m] is not None and (self.diverged_at[m] or 0) > self.stopped_at[m]:
                self.diverged_at[m] = None
        stop = {member: at for member, at in zip(self.members, self.stopped_at, strict=True)}
        self.curves = [
            r
            for r in self.curves
            if stop[r["beta"], r["seed"]] is None or r["iteration"] <= stop[r["beta"], r["seed"]]
        ]

    @contextmanager
    def precision(self):
        """Inside: float32 matmuls and convolutions as :attr:`tf32` says (CUDA only), and CPU denormals
        flushed in this thread as :attr:`flush_denormal` says; the previous settings are restored on
        exit."""
        flushing_before, _ = denormals_flushed()
        torch.set_flush_denormal(self.flush_denormal)
        self.denormals_flushed = denormals_flushed()
        try:
            with cuda_fp32_precision(self.device, self.tf32):
                yield
        finally:
            torch.set_flush_denormal(flushing_before)

    # ------------------------------------------------------------------------------------- the run
    def train(self, checkpoint_seconds: float = 300.0, progress: bool = True) -> None:
        """Train to ``config.iterations``, with curves, checkpoints and clean stops on SIGINT/SIGTERM.

        :attr:`elapsed` counts the time the loop ran, less the time the process was stopped
        (``kill -STOP``, :class:`~rdvae.pauses.PauseClock`), which goes to :attr:`paused` instead."""
        with self.precision(), PauseClock() as pauses:
            self._train(checkpoint_seconds, progress, pauses)

    def _train(self, checkpoint_seconds: float, progress: bool, pauses: PauseClock) -> None:
        stop = {"signal": None}

        def request_stop(signum, _frame):
            stop["signal"] = signum

        in_main_thread = hasattr(signal, "SIGTERM") and _is_main_thread()
        previous = {}
        if in_main_thread:
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, request_stop)
        last_checkpoint = time.monotonic()
        self.resumed_at = (self.iteration, self.elapsed)
        start, paused_before = time.perf_counter() - self.elapsed - self.paused, self.paused
        cfg = self.config
        bar = tqdm(
            total=cfg.iterations, initial=self.iteration, desc=cfg.run_id, unit="it", disable=not progress
        )
        try:
            if self.iteration == 0:
                self.evaluate_curves()
            while self.iteration < cfg.iterations and not self.stopped_early:
                self.step()
                bar.update(1)
                at_eval = self.iteration % cfg.eval_every == 0 or self.iteration == cfg.iterations
                if at_eval:
                    self.evaluate_curves()
                    if cfg.early_stopping:
                        self.stop_members()
                    alive = sum(self.counts(m) for m in range(len(self.members)))
                    self.stopped_early = cfg.early_stopping and alive == 0
                    bar.set_postfix(members=f"{alive}/{len(self.members)}", refresh=False)
                self.paused = paused_before + pauses.paused
                self.elapsed = time.perf_counter() - start - self.paused
                due = time.monotonic() - last_checkpoint >= checkpoint_seconds
                finished = self.iteration == cfg.iterations or self.stopped_early
                if stop["signal"] is not None or (at_eval and due) or finished:
                    self.save_checkpoint()
                    last_checkpoint = time.monotonic()
                if stop["signal"] is not None:
                    raise Interrupted(
                        f"stopped by signal {stop['signal']} at iteration {self.iteration:,} of "
                        f"{cfg.iterations:,}; checkpoint {self.checkpoint_path()}; run the same command "
                        "again to resume"
                    )
        finally:
            bar.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if cfg.early_stopping:
            self.restore_best()

    def device_name(self) -> str:
        """The GPU's name, or the CPU's model and the threads torch trains with: what the training
        time of a run was measured on."""
        if self.device.type == "cuda":
            return torch.cuda.get_device_name(self.device)
        return f"{cpu_model()} ({torch.get_num_threads()} threads)"

    def provenance(self) -> dict:
        return {
            "rdvae": rdvae.__version__,
            "git_commit": self.commits[-1],  # the code of the process that finished (and evaluated) it
            "git_commits": self.commits,  # every process's, in order (since commits were kept)
            "torch": torch.__version__,
            "device": str(self.device),
            "device_name": self.device_name(),  # this process's; ``machines`` has every process's
            "machines": self.machines,
            "stacks": [len(g) for g in self.groups],
            "tf32": self.tf32,
            "flush_denormal": self.flush_denormal,
            # where denormals were flushed while training: "all threads", "main thread" or "no"
            "denormals_flushed": _describe_flushing(self.denormals_flushed),
            "iterations_run": self.iteration,
            "extended_from": self.extended_from,
            "train_seconds": round(self.elapsed, 1),  # pauses left out (since "paused_seconds" is kept)
            "paused_seconds": round(self.paused, 1),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }


def _describe_flushing(found: tuple[bool, bool] | None) -> str | None:
    if found is None:
        return None
    this_thread, every_thread = found
    return "all threads" if every_thread else "main thread" if this_thread else "no"


def load_state(path: Path, mmap: bool = False) -> dict:
    """A checkpoint's contents, read onto the CPU whatever device wrote it; ``mmap`` maps the tensors
    from the file instead of reading them (for a quick look, as ``rdvae progress`` takes).

    The generator states must stay CPU ByteTensors (``Generator.set_state`` accepts nothing else, also
    for a CUDA generator), so nothing is mapped to the training device here: ``load_state_dict`` copies
    model parameters into the device's tensors and moves Adam's state to its parameters' device.
    """
    return torch.load(path, map_location="cpu", weights_only=False, mmap=mmap)


def _read_state(path: Path) -> dict:
    try:
        return load_state(path)
    except Exception as err:  # noqa: BLE001 - any unreadable checkpoint is reported the same way
        raise RuntimeError(
            f"checkpoint {path} is unreadable ({err}); delete it to start this run afresh"
        ) from None


def _is_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def run(
    config: RunConfig,
    device: str = "cpu",
    store_path: str | Path | None = None,
    checkpoint_seconds: float = 300.0,
    stack_size: int | None = None,
    progress: bool = True,
    tf32: bool | None = None,
    flush_denormal: bool = True,
    keep_state: bool = False,
) -> store.RunResults:
    """Load ``config``'s results from the store if complete; otherwise train (resuming from a
    checkpoint if one exists, else continuing a kept shorter run of the same configuration), evaluate,
    store the results and delete the checkpoint, or with ``keep_state`` keep it for a longer run
    (:mod:`rdvae.kept_states`).  Only one process at a time trains a given run
    (:func:`exclusive_run`); another asking for it waits, then loads what the first stored.  A
    configuration some of whose seeds are already stored or part-trained as seed shards is finished a
    shard at a time (:func:`started_shards`), so no seed is trained twice.  ``tf32`` and
    ``flush_denormal``: see :class:`Trainer`."""
    done = store.load(config, store_path)
    if done is not None:
        return done
    if started := started_shards(config, store_path):
        if progress:
            print(
                f"{config.run_id}: begun a seed at a time "
                f"({', '.join(f'seed {s} {how}' for s, how in started.items())}); finishing it so"
            )
        for shard in store.seed_shards(config):
            run(shard, device, store_path, checkpoint_seconds, stack_size, progress, tf32, flush_denormal,
                keep_state)  # fmt: skip
        return store.load(config, store_path)
    with exclusive_run(config.run_id, progress):
        done = store.load(config, store_path)  # stored by another process while this one waited
        if done is not None:
            return done
        return train_and_store(
            config, device, store_path, checkpoint_seconds, stack_size, progress, tf32, flush_denormal,
            keep_state,
        )  # fmt: skip


def started_shards(config: RunConfig, store_path: str | Path | None = None) -> dict[int, str]:
    """The seed shards of ``config`` (:func:`rdvae.store.seed_shards`) already stored or part-trained
    (a checkpoint in the cache), as {seed: "stored" or "part-trained"}; empty where ``config`` has its
    own checkpoint, which :func:`run` resumes as a whole.  ``rdvae train --seeds 0`` then a plain
    ``rdvae train`` of both seeds must train seed 1 only, not seed 0 again beside the stored shard."""
    if paths.checkpoint_file(config.run_id).exists():
        return {}
    stored = store.stored_seed_shards(config, store_path)
    found = {}
    for shard in store.seed_shards(config):
        if shard in stored:
            found[shard.seeds[0]] = "stored"
        elif paths.checkpoint_file(shard.run_id).exists():
            found[shard.seeds[0]] = "part-trained"
    return found


@contextmanager
def exclusive_run(run_id: str, progress: bool = True):
    """Hold the lock file ``<checkpoint folder>/<run id>.lock`` for the duration of the block.

    Two chapters built in parallel, or two terminals, may ask for the same run; without the lock both
    would train it and write the same checkpoint.  The second caller blocks here until the first is
    done.  The lock is an ``flock`` on the open file, so the operating system drops it when its holder
    exits, however it exits: a crashed run never leaves a stale lock behind.
    """
    import fcntl

    lock_path = paths.checkpoint_dir() / f"{run_id}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if progress:
                print(f"{run_id}: another process is training this run; waiting for it to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def train_and_store(
    config: RunConfig,
    device: str = "cpu",
    store_path: str | Path | None = None,
    checkpoint_seconds: float = 300.0,
    stack_size: int | None = None,
    progress: bool = True,
    tf32: bool | None = None,
    flush_denormal: bool = True,
    keep_state: bool = False,
) -> store.RunResults:
    """Train ``config`` (from its checkpoint, else from a kept shorter run, else afresh), evaluate,
    store, then delete the checkpoint or keep it (``keep_state``).  Call it through :func:`run`,
    which holds the run's lock."""
    from rdvae.evaluate import evaluate_run

    if keep_state and config.early_stopping:
        raise ValueError(
            f"run {config.run_id} uses early stopping, whose state cannot be continued; drop --keep-state"
        )
    trainer = Trainer(config, device, stack_size, tf32, flush_denormal)
    trainer.finish = {"store": str(store.store_dir(store_path).resolve()), "keep_state": keep_state}
    if trainer.load_checkpoint():
        if progress:
            print(f"resuming {config.run_id} from iteration {trainer.iteration:,}")
    elif (shorter := kept_states.extendable(config)) is not None:
        trainer.extend(shorter)
        if progress:
            print(
                f"extending {trainer.extended_from} from iteration {trainer.iteration:,} to "
                f"{config.iterations:,} (its kept state {shorter})"
            )
    trainer.train(checkpoint_seconds, progress)
    with trainer.precision():
        results = evaluate_run(trainer, progress=progress)
    store.save(results, store_path)
    if keep_state:
        kept = kept_states.keep(trainer.checkpoint_path(), config)
        if progress:
            print(f"kept the final state in {kept}; a longer run of this configuration continues from it")
    else:
        trainer.checkpoint_path().unlink(missing_ok=True)
    return store.load(config, store_path)
