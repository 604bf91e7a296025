"""The ``rdvae`` command.

``rdvae book``   execute every chapter with papermill and build the HTML book (the main job)
``rdvae train``  train (or resume, or load) one configuration's (beta, seed) members
``rdvae sweep``  train every configuration some figures need, as Ray tasks (local or a cluster)
``rdvae progress`` how far the unfinished runs (checkpoints in the cache) are, and their last curves
``rdvae verdicts`` every claim's verdict from the results store, in seconds, without building the book
``rdvae runs``   what the results store holds: every configuration's budget, seeds and training hours
                 (``--twins``: and how far runs of one seed at two budgets agree; ``--budgets``: what
                 the longer of two budgets changed in each configuration's final distortion)
``rdvae data``   render and cache the full Tetrominoes dataset
``rdvae splits`` print the exact sizes of every split
"""

from __future__ import annotations

import argparse
import sys
import time

import yaml


def _key_value(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), yaml.safe_load(value)


def _cmd_book(args) -> int:
    from rdvae import book

    print(f"rdvae book: profile={args.profile} device={args.device}")
    try:
        index = book.build(args.profile, args.device, args.chapters, dict(args.param or []), jobs=args.jobs)
    except (ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"HTML: {index}")
    return 0


def _cmd_data(args) -> int:
    import os

    from rdvae import paths

    if args.out:
        os.environ[paths.CACHE_ENV] = str(args.out)
    from rdvae.data import tetrominoes

    start = time.perf_counter()
    array = tetrominoes.load_images(progress=True)
    print(
        f"{array.shape[0]:,} images {tuple(array.shape[1:])} float32 ({array.nbytes / 2**30:.2f} GiB) in "
        f"{paths.cache_dir()} [{time.perf_counter() - start:.1f} s]"
    )
    return 0


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _cmd_train(args) -> int:
    import torch

    # before torch starts its worker threads, which inherit the flag (see rdvae.train.Trainer); back to
    # PyTorch's default when done, for callers in the same process
    torch.set_flush_denormal(args.flush_denormal)
    try:
        return _train(args)
    finally:
        torch.set_flush_denormal(False)


def train_config(args):
    """The :class:`rdvae.config.RunConfig` that ``rdvae train``'s parsed ``args`` ask for: the profile's
    budget with the options given replacing it (:meth:`rdvae.profiles.TrainBudget.config`)."""
    from rdvae.profiles import get_profile

    return get_profile(args.profile).training.config(
        args.split,
        args.arch,
        betas=args.betas,
        seeds=args.seeds,
        iterations=args.iterations,
        early_stopping=args.early_stopping or None,
        dataset=args.dataset,
        objective=args.objective,
    )


def _train(args) -> int:
    from rdvae import store, train
    from rdvae.device import resolve_device

    try:
        resolve_device(args.device)
        config = train_config(args)
        print(f"run {config.run_id}: {len(config.members)} members, {config.iterations:,} iterations")
        results = train.run(
            config, args.device, args.store, args.checkpoint_every, args.stack_size, tf32=args.tf32,
            flush_denormal=args.flush_denormal, keep_state=args.keep_state,
        )  # fmt: skip
    except train.Interrupted as stop:
        print(f"\n{stop}", file=sys.stderr)
        return 130
    except (ValueError, RuntimeError, store.StoreError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    folder = store.store_dir(args.store) / config.run_id
    if not folder.exists():  # assembled from runs of one seed each
        shards = [s["run_id"] for s in results.provenance["seed_shards"]]
        folder = f"{store.store_dir(args.store)}, seed shards {', '.join(shards)}"
    diverged = len(results.rows("train", status="diverged"))
    print(
        f"run id: {config.run_id}\nfolder: {folder}" + (f"\ndiverged members: {diverged}" if diverged else "")
    )
    return 0


def _cmd_sweep(args) -> int:
    from rdvae import store, sweep
    from rdvae.device import resolve_device

    try:
        if not args.dry_run:
            resolve_device(args.device)
        todo, done = sweep.plan(args.profile, args.figures, args.store)
    except (ValueError, RuntimeError, store.StoreError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"sweep: profile={args.profile} figures={' '.join(args.figures)}")
    if args.dry_run or not todo:
        print("\n".join(sweep.describe(todo, done, "cuda" if args.gpus_per_run else args.device)))
        return 0
    target = args.store or store.profile_store(args.profile)
    results = sweep.run(
        todo, target, args.device, args.address, args.cpus_per_run, args.gpus_per_run, args.num_cpus
    )
    failed = [r for r in results if "error" in r]
    print(
        f"{len(results) - len(failed)} runs stored in {target}, {len(done)} were there already"
        + (f"; {len(failed)} failed: run the same command again to resume them" if failed else "")
    )
    return 1 if failed else 0


def _cmd_progress(args) -> int:
    from rdvae import progress

    runs = progress.in_progress()
    print("\n".join(progress.describe(runs)))
    return 1 if any("error" in run for run in runs) else 0


def _cmd_verdicts(args) -> int:
    from rdvae import inventory, ledger, store
    from rdvae.runs import get_runs

    claims = everything = ledger.paper_claims()
    if args.claims:
        known = {claim.id: claim for claim in claims}
        unknown = [name for name in args.claims if name not in known]
        if unknown:
            names = ", ".join(known)
            print(f"error: unknown claim(s) {', '.join(unknown)}; choose from {names}", file=sys.stderr)
            return 1
        claims = [known[name] for name in args.claims]
    try:
        # --next extends claims to the most-trained budget of any stored run, so it reads them all
        read = everything if args.next else claims
        runs = get_runs(args.profile, ledger.keys_for(read), train_missing=False)
    except store.StoreError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for verdict in ledger.evaluate(claims, runs, args.profile):
        print("\n".join(ledger.describe(verdict, numbers=args.numbers)))
    if args.every_budget:
        print("\nat every budget holding all of a claim's runs, least-trained first:")
        waiting = ledger.waiting_for(claims, runs, inventory.seeds_stored)
        for claim, found in ledger.at_every_budget(claims, runs).items():
            print(f"{claim:<5} {ledger.budget_history(found) or 'its runs are not all stored at one budget'}")
            if claim in waiting:
                print(f"      waiting at {waiting[claim]}")
    if args.next:
        print("\nruns that would decide claims at a more-trained budget (in each list, runs already begun")
        print("first, then those of the claims closest to deciding):")
        to_train, above, to_start = ledger.next_runs(claims, runs, args.profile)
        print("\n".join(inventory.training_plan(to_train)))
        if to_start:
            print(f"\nthen, for the claims of which no budget above {args.profile} holds a run, "
                  f"their runs at {above}, the claims comparing fewest runs first:")  # fmt: skip
            print("\n".join(inventory.training_plan(to_start)))
        if to_extend := ledger.runs_to_extend(claims, runs):
            print("\nthen, for the claims decided below the most-trained budget their profile's store "
                  "holds a run at, their runs there, the claims comparing fewest runs first:")  # fmt: skip
            print("\n".join(inventory.training_plan(to_extend)))
    return 0


def _cmd_runs(args) -> int:
    from rdvae import budget_change, inventory, store, twins
    from rdvae.runs import EVIDENCE_ORDER

    profiles = args.profile or [p for p in EVIDENCE_ORDER if store.profile_store(p).is_dir()]
    for profile in profiles:
        try:
            stored = inventory.stored_configurations(profile)
        except store.StoreError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        where = store.profile_store(profile)
        print(
            f"{profile}: {len(stored)} configuration{'s' * (len(stored) != 1)} in {where}, "
            f"{inventory.total_hours(stored):.1f} hours of training"
        )
        if stored:
            print("\n".join(inventory.text_table([c.row() for c in stored])) + "\n")
        if args.twins:
            pairs = twins.find_twins(profile)
            print(
                f"{profile}: {len(pairs)} seed{'s' * (len(pairs) != 1)} stored at two budgets, "
                "each trained from scratch"
            )
            if pairs:
                print("\n".join(inventory.text_table([pair.row() for pair in pairs])) + "\n")
        if args.budgets:
            changes = budget_change.budget_changes(profile)
            print(f"{profile}: {budget_change.summary(changes)}")
            if changes:
                print("\n".join(inventory.text_table([change.row() for change in changes])) + "\n")
    return 0


def _cmd_splits(args) -> int:
    from rdvae.data import splits

    names = ["default", "checkerboard"]
    names += [f"cv-{r}" for r in splits.CV_PAPER_RATIOS] + [f"cd-{r}" for r in splits.CD_PAPER_RATIOS]
    print(f"{'split':<14}{'label':<20}{'N_train':>10}{'N_test':>10}")
    for name in names:
        train, test = splits.get_split(name)
        print(f"{name:<14}{splits.describe(name):<20}{len(train):>10,}{len(test):>10,}")
    return 0


def parser() -> argparse.ArgumentParser:
    from rdvae.config import OBJECTIVES
    from rdvae.profiles import DEFAULT_PROFILE, PROFILES

    top = argparse.ArgumentParser(
        prog="rdvae", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = top.add_subparsers(dest="command", required=True)

    book = sub.add_parser("book", help="execute the chapters with papermill and build the HTML book")
    book.add_argument("--profile", default=DEFAULT_PROFILE, choices=list(PROFILES), help="compute budget")
    book.add_argument("--device", default="cpu", help="cpu or cuda")
    book.add_argument("--chapters", nargs="+", metavar="NN", help="only these chapters (e.g. 02 03)")
    book.add_argument(
        "--jobs", type=int, default=1, help="chapters executed at once, each kernel with cpus/jobs threads"
    )
    book.add_argument(
        "-p",
        "--param",
        action="append",
        type=_key_value,
        metavar="KEY=VALUE",
        help="extra papermill parameter, YAML value (e.g. -p 'betas=[0.1, 1]')",
    )
    book.set_defaults(run=_cmd_book)

    data = sub.add_parser("data", help="render and cache the full Tetrominoes dataset")
    data.add_argument("--out", help="cache folder (default: $RDVAE_CACHE or ~/.cache/rdvae)")
    data.set_defaults(run=_cmd_data)

    fit = sub.add_parser(
        "train", help="train (or resume, or load) every (beta, seed) member of a configuration"
    )
    fit.add_argument("--arch", required=True, help="mlp1, mlp3, cnn1 or cnn3")
    fit.add_argument("--split", required=True, help="default, checkerboard, cv-R or cd-R (e.g. cv-0.1)")
    fit.add_argument("--profile", default=DEFAULT_PROFILE, choices=list(PROFILES), help="training budget")
    fit.add_argument("--betas", type=_floats, help="comma-separated beta grid (default: the profile's)")
    fit.add_argument("--seeds", type=_ints, help="comma-separated seeds (default: the profile's)")
    fit.add_argument("--iterations", type=int, help="training iterations (default: the profile's)")
    fit.add_argument(
        "--dataset",
        default="tetrominoes",
        help="tetrominoes (default), or digits, mnist, fashion-mnist, smallnorb, 3dshapes, dsprites",
    )
    fit.add_argument(
        "--early-stopping",
        action="store_true",
        help="hold out 10%% of the training set and keep each member's best validation -L_beta",
    )
    fit.add_argument(
        "--objective",
        choices=OBJECTIVES,
        help="appendix A-8: train on the beta-VAE objective or with the MI or the marginal-KL part of the "
        "rate removed, on minibatches of the profile's estimator batch (512) for the same epochs "
        "(default: the beta-VAE at the profile's batch, as every figure)",
    )
    fit.add_argument("--device", default="cpu", help="cpu or cuda")
    fit.add_argument("--store", help="results store folder (default: $RDVAE_STORE or <book>/results)")
    fit.add_argument(
        "--checkpoint-every",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="seconds between checkpoints (also written on SIGINT/SIGTERM)",
    )
    fit.add_argument(
        "--stack-size",
        type=int,
        help="members per batched stack (default: all on a GPU; on a CPU 4 for MLPs, 1 for CNNs)",
    )
    fit.add_argument(
        "--tf32",
        action=argparse.BooleanOptionalAction,
        help="TF32 tensor-core matmuls on a GPU (default: on with --device cuda; recorded in provenance)",
    )
    fit.add_argument(
        "--flush-denormal",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="flush CPU denormals to zero (default: on, ~2x faster late in training; recorded in "
        "provenance; a resumed run keeps the setting it started with)",
    )
    fit.add_argument(
        "--keep-state",
        action="store_true",
        help="keep the final training state (in <cache>/kept) so that the same configuration trained "
        "for more --iterations later continues from it instead of starting again",
    )
    fit.set_defaults(run=_cmd_train)

    sweep = sub.add_parser(
        "sweep", help="train every configuration the chosen figures need, as Ray tasks (local or cluster)"
    )
    sweep.add_argument("--profile", default=DEFAULT_PROFILE, choices=list(PROFILES), help="training budget")
    sweep.add_argument(
        "--figures", nargs="+", default=["3", "4", "5", "6", "8", "appendix"],
        help="figures whose claims' runs to train: 3 4 5 6 7 8 appendix (default: all but 7)",
    )  # fmt: skip
    sweep.add_argument("--address", help="Ray cluster: 'auto' on a cluster node, or ray://HEAD:10001")
    sweep.add_argument("--device", default="cpu", help="cpu or cuda (each run's device)")
    sweep.add_argument("--cpus-per-run", type=float, default=1, help="CPUs each run reserves (default 1)")
    sweep.add_argument("--gpus-per-run", type=float, default=0, help="GPUs each run reserves (e.g. 1)")
    sweep.add_argument("--num-cpus", type=int, help="CPUs of the local Ray instance (default: all)")
    sweep.add_argument("--store", help="results store folder (default: results/<profile>)")
    sweep.add_argument(
        "--dry-run", action="store_true", help="print the plan with estimated device-hours; train nothing"
    )
    sweep.set_defaults(run=_cmd_sweep)

    status = sub.add_parser(
        "progress", help="how far each unfinished run (a checkpoint in the cache) is, with its last curves"
    )
    status.set_defaults(run=_cmd_progress)

    verdicts = sub.add_parser(
        "verdicts", help="every claim's verdict from the results store (what chapter 14 shows), in seconds"
    )
    verdicts.add_argument("--profile", default=DEFAULT_PROFILE, choices=list(PROFILES), help="build profile")
    verdicts.add_argument("--claims", nargs="+", metavar="ID", help="only these claims, e.g. F3a F3b")
    verdicts.add_argument(
        "--every-budget", action="store_true", help="also its verdict at every budget that holds its runs"
    )
    verdicts.add_argument("--numbers", action="store_true", help="also the numbers behind each verdict")
    verdicts.add_argument(
        "--next",
        action="store_true",
        help="also the rdvae train commands of the runs that would decide claims at a more-trained budget, "
        "then those of the claims no more-trained budget holds any run of, at the next profile up, "
        "then those that bring the remaining claims up to the most-trained budget of any stored run",
    )
    verdicts.set_defaults(run=_cmd_verdicts)

    stored = sub.add_parser(
        "runs", help="what the results store holds: every configuration's budget, seeds and training hours"
    )
    stored.add_argument(
        "--profile",
        nargs="+",
        choices=list(PROFILES),
        help="these profiles' stores (default: every one of paper, long, cpu that has a store folder)",
    )
    stored.add_argument(
        "--twins",
        action="store_true",
        help="also every seed stored at two budgets: how far the longer run repeats the shorter one's "
        "learning curve, and how far seeds part (chapter 14, 'Runs trained twice')",
    )
    stored.add_argument(
        "--budgets",
        action="store_true",
        help="also every configuration stored at two budgets: how far the longer budget moved its final "
        "train and test D at each beta, beside how far its seeds are apart (chapter 14, 'What the longer "
        "budget changed')",
    )
    stored.set_defaults(run=_cmd_runs)

    split = sub.add_parser("splits", help="print the exact size of every split")
    split.set_defaults(run=_cmd_splits)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
