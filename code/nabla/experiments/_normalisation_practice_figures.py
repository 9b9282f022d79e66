"""The figures of book/normalisation-practice.md, drawn from what
:mod:`nabla.experiments.normalisation_practice` computes, and the names and colours the chapter
gives the three variants.

Kept apart from the experiment so that each module stays short; the experiment module
re-exports them, so a chapter calls ``normalisation_practice.plot_curves(...)``.
"""

from __future__ import annotations

import numpy as np

NORM_NAMES = {"none": "no normalisation", "batch": "batch norm", "layer": "layer norm"}
NORM_COLOURS = {"none": "C0", "batch": "C1", "layer": "C2"}


def plot_sweep(ax, summary, study, norms, title, xlabel, base=10):
    """Final validation accuracy against a swept setting on a log axis; seeds as dots, their mean as a line."""
    values = sorted(float(v) for v in summary[study])
    for norm in norms:
        means, crossed = [], []
        for v in values:
            key = next(k for k in summary[study] if float(k) == v)
            outcomes = summary[study][key][norm]
            means.append(np.mean([o["eval_accuracy"] for o in outcomes]))
            for o in outcomes:
                marker = "x" if o["diverged"] else "."
                ax.plot([v], [o["eval_accuracy"]], marker, color=NORM_COLOURS[norm], markersize=11 if o["diverged"] else 6,
                        markeredgewidth=2.5 if o["diverged"] else 1)
        ax.plot(values, means, "-", color=NORM_COLOURS[norm], label=f"{NORM_NAMES[norm]} (dots: seeds; line: their mean)")
    if any(o["diverged"] for by_norm in summary[study].values() for outcomes in by_norm.values() for o in outcomes):
        ax.plot([], [], "x", color="grey", markersize=9, markeredgewidth=2.5, label="a run that diverged (NaN loss)")
    ax.axhline(0.1, color="grey", linestyle=":", linewidth=1)
    ax.set_xscale("log", base=base)
    ax.set_xticks(values, [f"{v:g}" for v in values])
    ax.minorticks_off()
    ax.set_ylim(0, 1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("final validation accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)


def plot_activation_rms(rms, scales, layers):
    """The root mean square of every hidden layer's activations at init, without and with batch norm, for each scale.

    ``rms``: ``{(s, norm): [rms of layer 1, ...]}`` (:func:`activation_rms`); dotted lines are
    $s^l$, what eq. normalisation-practice-rms predicts without normalisation. ``(fig, ax)``.
    """
    from nabla.plotting import white_figure

    fig, ax = white_figure(figsize=(7, 4))
    for k, s in enumerate(scales):
        ax.semilogy(layers, s**layers, ":", color=f"C{k}")
        ax.semilogy(layers, rms[s, "none"], "o-", color=f"C{k}", label=f"no normalisation, $s = {s:g}$")
        ax.semilogy(layers, rms[s, "batch"], "s--", color=f"C{k}", alpha=0.6, markersize=8 - 2 * k,
                    label=f"batch norm, $s = {s:g}$")
    ax.set_xlabel("hidden layer $l$")
    ax.set_ylabel("root mean square of $A_l$")
    ax.set_title("Activations at initialisation (dotted: $s^l$)")
    ax.legend(fontsize=8, ncol=2)
    return fig, ax


def plot_curves(records, title):
    """Loss and accuracy, training (solid) and validation (dashed), against epochs; one row per learning rate of the curves study."""
    from nabla.plotting import white_figure

    curves = records[records["study"] == "curves"]
    learning_rates = sorted(curves["lr"].unique())
    fig, axes = white_figure(nrows=len(learning_rates), ncols=2, figsize=(11, 3.6 * len(learning_rates)), squeeze=False)
    for row, lr in zip(axes, learning_rates):
        for norm, run in curves[curves["lr"] == lr].groupby("norm"):
            colour = NORM_COLOURS[norm]
            for ax, metric in zip(row, ("loss", "accuracy")):
                ax.plot(run["epoch"], run[f"train_{metric}"], "-", color=colour, label=f"{NORM_NAMES[norm]}, training")
                ax.plot(run["epoch"], run[f"eval_{metric}"], "--", color=colour, label=f"{NORM_NAMES[norm]}, validation")
                if run["diverged"].iloc[-1]:
                    # A NaN loss cannot be drawn: the cross sits at the top of the loss axis, and at
                    # the accuracy the diverged network has (its logits are NaN, so argmax picks class 0).
                    last = run.iloc[-1]
                    y = 4.3 if metric == "loss" else last["eval_accuracy"]
                    ax.plot([last["epoch"]], [y], "x", color=colour, markersize=12, markeredgewidth=2.5,
                            label=f"{NORM_NAMES[norm]}: diverged (NaN loss)")
        row[0].set_ylim(0, 4.5)
        row[1].set_ylim(0, 1)
        row[0].set_ylabel(f"$\\eta = {lr:g}$\ncross-entropy")
        row[1].set_ylabel("accuracy")
        for ax in row:
            ax.grid(alpha=0.3)
        row[1].legend(fontsize=7, loc="lower right")
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def sweep_figure(summary, full_summary, study, norms, xlabel, base=10):
    """Final validation accuracy against a swept setting (:func:`plot_sweep`), budget run and full run side by side."""
    from nabla.plotting import budget_and_full

    draw = lambda ax, run_summary, title: plot_sweep(ax, run_summary, study, norms, title, xlabel, base)  # noqa: E731
    fig, axes = budget_and_full(draw, summary, full_summary, "normalisation_practice", sharey=True)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig
