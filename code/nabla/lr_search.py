r"""The divergent learning rate $\eta^*$ of chapter 14 (book/divergent-lr.md), and the sweeps built on it.

$\eta^*$ does not diverge and $2\eta^*$ does; the experiments of chapters 14-16 train at
$\eta^*/2$. :func:`diverged` is the criterion, :func:`find_divergent_lr` the search (powers of
10, then powers of 2), :func:`sgd_diverges` the question the search asks of a network
("does a pass of SGD at this rate make the training loss worse?"), and
:func:`sweep_batch_sizes` runs the search for each batch size and trains at multiples of its $\eta^*_B$.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from nabla.data import Split
from nabla.fastpath import FusedSGD, penalty
from nabla.train import fit


def diverged(initial_loss, final_loss):
    r"""The criterion for "this learning rate diverges": the final loss is NaN or infinite, or
    larger than the initial loss.

    Measured on the training objective, after a fixed small budget (e.g. one pass). For gradient
    descent on $f(x) = \frac a2 x^2$, $x \leftarrow (1 - \eta a) x$, so after k steps
    $f_k = (1 - \eta a)^{2k} f_0$: the criterion holds exactly when $|1 - \eta a| > 1$, i.e.
    $\eta > 2/a$, the analytic boundary (tests/test_lr_search.py checks this).
    """
    for name, loss in (("initial_loss", initial_loss), ("final_loss", final_loss)):
        if isinstance(loss, bool) or not isinstance(loss, numbers.Real):
            raise TypeError(f"diverged: {name} must be a number, got {type(loss).__name__} {loss!r}")
    if not math.isfinite(initial_loss):  # nothing is larger than NaN: every rate would pass as stable
        raise ValueError(f"diverged: the initial loss must be finite, got {initial_loss}")
    return not math.isfinite(final_loss) or final_loss > initial_loss


@dataclass
class DivergentLR:
    """What :func:`find_divergent_lr` returns: ``eta_star`` and every ``(lr, diverged)`` it tried, in order."""

    eta_star: float
    trials: list


def find_divergent_lr(diverges, start=1e-4, max_lr=1e8, min_lr=1e-12):
    r"""The divergent learning rate $\eta^*$: $\eta^*$ does not diverge and $2\eta^*$ does.

    ``diverges(lr) -> bool`` says whether one learning rate diverges (e.g. by :func:`diverged`
    after a pass of SGD, see :func:`sgd_diverges`). The search, as chapter 14 does it by hand:

    1. powers of 10: from ``start``, multiply by 10 until a learning rate diverges (if ``start``
       already diverges, divide by 10 until one does not); call the last stable one $\eta_0$;
    2. powers of 2: double $\eta_0$ while the double does not diverge. The result
       $\eta^* = 2^j\eta_0$ has been tried and is stable, and $2\eta^*$ has been tried and diverges.

    Raises ValueError if nothing diverges below ``max_lr`` or everything does above ``min_lr``.
    Every answer of ``diverges`` is cached, so no learning rate is tried twice.
    """
    start = check_search(diverges, start, max_lr, min_lr)
    trials, cache = [], {}

    def tried(lr):
        lr = float(f"{lr:.12g}")  # 1e-4 * 10**3 is 0.10000000000000002; keep the decimal a reader expects
        if lr not in cache:
            cache[lr] = bool(diverges(lr))
            trials.append((lr, cache[lr]))
        return lr, cache[lr]

    lr, bad = tried(start)
    if bad:
        while bad:
            if lr / 10 < min_lr:
                raise ValueError(f"find_divergent_lr: every learning rate down to {min_lr:g} diverges")
            lr, bad = tried(lr / 10)
    else:
        while True:
            if lr * 10 > max_lr:
                raise ValueError(f"find_divergent_lr: no learning rate up to {max_lr:g} diverges")
            up, bad = tried(lr * 10)
            if bad:
                break
            lr = up
    eta = lr
    while True:
        double, bad = tried(2 * eta)
        if bad:
            return DivergentLR(eta_star=eta, trials=trials)
        eta = double


def check_search(diverges, start, max_lr, min_lr):
    """``start``, once ``diverges`` is callable and 0 < ``min_lr`` <= ``start`` <= ``max_lr`` are learning rates; else an error naming them."""
    if not callable(diverges):
        raise TypeError(f"find_divergent_lr: diverges must be a function lr -> bool, got {type(diverges).__name__} {diverges!r}")
    for name, lr in (("start", start), ("max_lr", max_lr), ("min_lr", min_lr)):  # min_lr = 0 would search forever
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
            raise TypeError(f"find_divergent_lr: {name} must be a number, got {type(lr).__name__} {lr!r}")
        if not 0 < lr < math.inf:
            raise ValueError(f"find_divergent_lr: {name}: the learning rate must be a finite number > 0, got {name} = {lr!r}")
    if not min_lr <= start <= max_lr:
        raise ValueError(f"find_divergent_lr: need min_lr <= start <= max_lr, got {min_lr:g}, {start:g}, {max_lr:g}")
    return start


def check_make_model(make_model, split, name):
    """A TypeError unless ``make_model`` is a function that makes a model and ``split`` a :class:`nabla.data.Split`."""
    if not callable(make_model) or hasattr(make_model, "parameters"):
        raise TypeError(f"{name}: make_model must be a function that returns a fresh model, got {type(make_model).__name__}")
    if not isinstance(split, Split):
        raise TypeError(f"{name}: split must be a nabla.data.Split, got {type(split).__name__}")


def sgd_diverges(make_model, split, lr, epochs=1, batch_size=1, seed=0, reg=0.0):
    r"""Whether SGD at ``lr`` diverges by :func:`diverged`: a fresh ``make_model()`` trained ``epochs`` passes.

    The passes are :func:`nabla.train.fit`'s with ``sampling="replacement"`` and the fused step
    (:class:`nabla.fastpath.FusedSGD`, a one-hidden-layer ReLU MLP), on the training part of
    ``split`` only; the training objective (mean cross-entropy + $\frac\lambda2\sum_W\lVert W\rVert^2$)
    is measured before and after. The callable to give :func:`find_divergent_lr` is
    ``lambda lr: sgd_diverges(make_model, split, lr, ...)``.
    """
    check_make_model(make_model, split, "sgd_diverges")
    model = make_model()
    before = penalty(model, reg)
    run = fit(model, FusedSGD(lr, reg), Split(split.X_train, split.y_train), epochs=epochs, batch_size=batch_size,
              sampling="replacement", seed=seed)
    return diverged(run.records[0]["train_loss"] + before, run.records[-1]["train_loss"] + penalty(model, reg))


def search_eta_star(make_model, split, batch_size=1, epochs=1, seed=0, start=1e-4):
    r""":func:`find_divergent_lr` for the networks ``make_model()`` makes, by :func:`sgd_diverges` with batches of ``batch_size``."""
    return find_divergent_lr(lambda lr: sgd_diverges(make_model, split, lr, epochs, batch_size, seed), start=start)


def sweep_batch_sizes(make_model, split, batch_sizes, factors, *, epochs, search_epochs=1, seed=0, start=1e-4,
                      progress=False):
    r"""For each batch size B: search $\eta^*_B$ (:func:`search_eta_star`), then train a fresh
    ``make_model()`` at each of ``factors`` x $\eta^*_B$ for ``epochs`` passes; yields ``(B, search, factor, lr, run)``.

    The shared loop of the divergent learning rate (factors 1/2, 1, 2) and minibatching (1/2):
    every run is :func:`nabla.train.fit` with the fused step and ``sampling="replacement"``,
    measured on ``split``'s evaluation set.
    """
    check_make_model(make_model, split, "sweep_batch_sizes")
    for name, values in (("batch_sizes", batch_sizes), ("factors", factors)):
        if not isinstance(values, (list, tuple)):
            raise TypeError(f"sweep_batch_sizes: {name} must be a list, got {type(values).__name__} {values!r}")
        if not values:
            raise ValueError(f"sweep_batch_sizes: {name} is empty; there would be nothing to train")
    if not all(isinstance(f, numbers.Real) and not isinstance(f, bool) and 0 < f < math.inf for f in factors):
        raise ValueError(f"sweep_batch_sizes: factors multiply eta* and must be finite numbers > 0, got {factors}")
    for B in batch_sizes:
        search = search_eta_star(make_model, split, B, search_epochs, seed, start)
        for factor in factors:
            lr = factor * search.eta_star
            run = fit(make_model(), FusedSGD(lr), split, epochs=epochs, batch_size=B, sampling="replacement", seed=seed,
                      progress=progress, description=f"B = {B}, {factor} eta*")
            yield B, search, factor, lr, run
