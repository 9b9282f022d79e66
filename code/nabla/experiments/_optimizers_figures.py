"""The figures of book/optimizers.md, drawn from what :mod:`nabla.experiments.optimizers` computes.

Kept apart from the experiment so that each module stays short; the experiment module
re-exports them, so a chapter calls ``optimizers.epoch_curves(...)``.
"""

from __future__ import annotations

import numpy as np


def epoch_curves(frame, images, steps_per_epoch):
    """Training and test loss against epoch for every optimizer of the records ``frame``: the mean over seeds, a band from the lowest to the highest."""
    from matplotlib.ticker import MaxNLocator

    from nabla.plotting import log_axis, white_figure

    trained = frame[frame["epoch"] >= 1]
    seeds = frame["seed"].nunique()
    fig, (ax_train, ax_test) = white_figure(ncols=2, figsize=(12, 4.2))
    for name in trained["optimizer"].unique():  # in the order the experiment ran them
        runs = trained[trained["optimizer"] == name].groupby("epoch")
        for ax, column in ((ax_train, "train_loss"), (ax_test, "eval_loss")):
            mean = runs[column].mean()
            ax.plot(mean.index, mean.values, "o-", markersize=3, label=name)
            ax.fill_between(mean.index, runs[column].min(), runs[column].max(), alpha=0.2)
    log_axis(ax_train)
    ax_train.set_title(f"Training set ({images:,} images)")
    ax_test.set_title("Test set (10,000 images)")
    for ax in (ax_train, ax_test):
        ax.set(xlabel=f"epoch ({steps_per_epoch} steps of 32)", ylabel=f"mean cross-entropy (mean of {seeds} seeds)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    ax_test.legend()
    return fig


def per_class_bars(per_class, title="Per-class test accuracy of the same MLP trained with six optimizers (mean of 5 seeds)",
                   ylabel="test accuracy after 5 epochs"):
    """A grouped bar chart of ``per_class`` (a DataFrame: one row per class, one column per optimizer)."""
    from nabla.plotting import white_figure

    fig, ax = white_figure(figsize=(12, 4.2))
    width = 0.8 / per_class.shape[1]
    for k, name in enumerate(per_class):
        ax.bar(np.arange(len(per_class)) + (k - (per_class.shape[1] - 1) / 2) * width, per_class[name], width, label=name)
    ax.set_xticks(np.arange(len(per_class)), per_class.index)
    ax.set_ylim(0, 1.12)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set(xlabel="class", ylabel=ylabel, title=title)
    ax.legend(ncol=per_class.shape[1], loc="upper center", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig


def bias_correction_figure(t, formula, step_over_lr):
    """Adam's step length over eta under a constant gradient: the formula without correction, and nabla's steps ``{corrected: (steps, entries)}``."""
    from nabla.plotting import white_figure

    fig, ax = white_figure(figsize=(7, 3.8))
    ax.semilogx(t, formula, color="C3", label="without correction: $(1-\\beta_1^t)/\\sqrt{1-\\beta_2^t}$")
    shown = np.unique(np.geomspace(1, len(t), 25).astype(int)) - 1  # steps evenly spread on the log axis
    ax.semilogx(t[shown], step_over_lr[False][shown, 0], "o", color="C3", markersize=4, label="without correction, nabla's Adam")
    ax.semilogx(t[shown], step_over_lr[True][shown, 0], "s", color="C0", markersize=4, label="with correction, nabla's Adam")
    ax.set(xlabel="step $t$", ylabel="step length / $\\eta$", ylim=(0, 9.5),
           title="Adam under a constant gradient ($\\beta_1 = 0.9$, $\\beta_2 = 0.999$)")
    ax.legend(loc="upper right")
    return fig


def minibatch_loss_figure(losses, lr, average=10):
    """The minibatch losses ``{label: losses per step}``, faint, and their mean over ``average`` steps, solid."""
    from nabla.plotting import white_figure

    fig, ax = white_figure(figsize=(7, 3.8))
    for k, (label, values) in enumerate(losses.items()):
        steps = np.arange(len(values))
        ax.plot(steps, values, color=f"C{3 * k}", alpha=0.25)
        ax.plot(steps[average - 1:], np.convolve(values, np.ones(average) / average, mode="valid"), color=f"C{3 * k}", label=label)
    ax.set(xlabel="step (minibatch of 32)", ylabel="minibatch cross-entropy",
           title=f"The first two epochs with Adam, $\\eta = {lr}$ (faint: raw; solid: mean of {average} steps)")
    ax.legend()
    return fig


def paths_figure(paths, f, title, box=((-10, 2), (-2, 2)), levels=(0.5, 2, 5, 10, 20, 40, 70)):
    """Contours of ``f`` (points (..., 2) -> values) over ``box`` and the iterates of each optimizer, ``{label: path (steps + 1, 2)}``."""
    from nabla.plotting import white_figure

    fig, ax = white_figure(figsize=(8, 3.6))
    grid_1, grid_2 = np.meshgrid(np.linspace(*box[0], 200), np.linspace(*box[1], 200))
    ax.contour(grid_1, grid_2, f(np.stack([grid_1, grid_2], axis=-1)), levels=list(levels), colors="0.8")
    for k, (label, path) in enumerate(paths.items()):
        ax.plot(path[:, 0], path[:, 1], ".-", color=f"C{k}", markersize=4,
                label=f"{label}: $f = {f(path[-1]):.3f}$ after {len(path) - 1} steps")
    ax.plot([0], [0], "k*", markersize=10)  # the minimum
    ax.set(xlabel="$\\theta_1$", ylabel="$\\theta_2$", title=title)
    ax.legend(loc="upper right", fontsize=8)
    return fig


def conventions_figure(step_v, step_u, drop_at):
    """The step lengths of the two momentum conventions under a learning rate that drops from 0.5 to 0.05 after step ``drop_at``."""
    conventions = {"$v \\leftarrow \\mu v + g$, $\\theta \\leftarrow \\theta - \\eta v$ (PyTorch)": step_v,
                   "$u \\leftarrow \\mu u - \\eta g$, $\\theta \\leftarrow \\theta + u$": step_u}
    return steps_figure(conventions, drop_at, "$\\eta$: 0.5 $\\to$ 0.05", "step length $\\|\\theta_t - \\theta_{t-1}\\|$",
                        "The two momentum conventions under a learning-rate drop ($\\mu = 0.9$)", dict(zip(conventions, [("o-",), ("s--",)])))


def recovery_figure(rates, switch, lr):
    """AdaGrad's and RMSProp's effective learning rates ``{"AdaGrad": ..., "RMSProp": ...}``, the gradients' size falling from 10 to 0.1 after step ``switch``."""
    return steps_figure({"AdaGrad: $\\eta / \\sqrt{s_t}$": rates["AdaGrad"], "RMSProp ($\\alpha = 0.99$): $\\eta / \\sqrt{r_t}$": rates["RMSProp"]},
                        switch, "$|g|$: 10 $\\to$ 0.1", "effective learning rate", f"A leaky average lets the step recover ($\\eta = {lr}$)")


def steps_figure(series, switch, switch_label, ylabel, title, styles=None):
    """Each of ``{label: values at steps 1, 2, ...}`` on a log axis, and a dotted line between step ``switch`` and the next."""
    from nabla.plotting import white_figure

    fig, ax = white_figure(figsize=(7, 3.8))
    for k, (label, values) in enumerate(series.items()):
        ax.semilogy(np.arange(1, len(values) + 1), values, *(styles or {}).get(label, ()), markersize=3, label=label)
    ax.axvline(switch + 0.5, color="0.5", linestyle=":", label=switch_label)
    ax.set(xlabel="step $t$", ylabel=ylabel, title=title)
    ax.legend()
    return fig
