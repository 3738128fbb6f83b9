"""Training plots (matplotlib is optional): loss/accuracy curves and first-layer "feature detectors".

Each function returns the path it wrote, or raises ``PlotUnavailable`` when
matplotlib is not installed, so callers can say what they skipped. Figures are
drawn with the Agg canvas directly, so no GUI backend or global pyplot state
is touched.
"""
from __future__ import annotations

import math
import textwrap
from typing import Dict, List, Optional, Sequence

import numpy as np

from ...ir.errors import ChainruleError
from ...ir.files import write_file


class PlotUnavailable(ChainruleError):
    """matplotlib is not installed (pip install matplotlib, or the ``plot`` extra)."""


def _figure(width, height):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotUnavailable("matplotlib is not installed; install it with pip install matplotlib "
                              "(or the plot extra of chainrule)") from None
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


LOSS_TITLES = {"cross_entropy": "loss (mean cross-entropy)", "squared_error": "loss (mean squared error)",
               "binary_cross_entropy": "loss (mean binary cross-entropy)"}


def plot_curves(history: Sequence[Dict[str, float]], path: str, loss: str = "cross_entropy") -> str:
    """Loss and accuracy per epoch (train and, where present, val and test) as a two-panel PNG;
    ``loss`` (a name of ``cr.losses.LOSSES``) titles the loss panel."""
    fig = _figure(10, 4)  # first: it raises PlotUnavailable without matplotlib
    from matplotlib.ticker import MaxNLocator
    epochs = [h["epoch"] for h in history]
    titles = (LOSS_TITLES.get(loss, f"loss ({loss})"), "accuracy")
    for ax, key, title in zip(fig.subplots(1, 2), ("loss", "accuracy"), titles):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        for split in ("train", "val", "test"):
            name = f"{split}_{key}"
            ys = [h.get(name) for h in history]
            if any(y is not None for y in ys):
                # the train loss is the mean over the epoch's steps, the others are measured after it
                label = "train (mean during the epoch)" if name == "train_loss" else split
                ax.plot(epochs, ys, marker="o", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
        else:  # a run stopped in its first epoch (a non-finite loss, a signal)
            ax.text(0.5, 0.5, "no epoch finished", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return write_file(path, writer=lambda f: fig.savefig(f, format="png"))  # atomic: no partial PNG


def plot_first_layer(weight: np.ndarray, path: str, image_shape: Optional[Sequence[int]] = None,
                     max_units: int = 64, kind: str = "hidden units (feature detectors)") -> str:
    """Each first-layer unit's weights wᵢ as an image: the lecture's "feature detectors".

    ``weight`` is (units, inputs); ``image_shape`` defaults to a square (8×8 for the digits);
    ``kind`` names the rows (a model without hidden layers: "output units (one template per class)").
    """
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f"first-layer weight must be a matrix (hidden, inputs), got shape {list(w.shape)}")
    if image_shape is None:
        side = int(round(math.sqrt(w.shape[1])))
        if side * side != w.shape[1]:
            raise ValueError(f"cannot draw {w.shape[1]} inputs as a square image; pass image_shape")
        image_shape = (side, side)
    units = w[:max_units]
    cols = int(math.ceil(math.sqrt(len(units))))
    rows = int(math.ceil(len(units) / cols))
    width = max(cols * 1.1, 4.0)
    # the caption is wrapped to the figure's width (a 9 pt character is about 0.075 in wide), so a
    # narrow grid does not clip it, and the grid starts below however many lines it takes
    caption = [f"first-layer weights wᵢ of {len(units)} {kind}",
               "red: positive weight, blue: negative, white: 0 (each image on its own scale)"]
    lines = [ln for c in caption for ln in textwrap.wrap(c, max(int(width / 0.075), 20))]
    title_h = 0.2 * len(lines) + 0.3
    fig = _figure(width, rows * 1.1 + title_h)
    fig.suptitle("\n".join(lines), fontsize=9)
    axes: List = list(np.atleast_1d(fig.subplots(rows, cols)).ravel())
    for i, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if i < len(units):
            img = units[i].reshape(image_shape)
            lim = float(np.abs(img).max()) or 1.0
            ax.imshow(img, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        else:
            ax.axis("off")
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - title_h / (rows * 1.1 + title_h), wspace=0.1, hspace=0.1)
    return write_file(path, writer=lambda f: fig.savefig(f, format="png"))  # atomic: no partial PNG


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """C[i, j] = how many examples of class i were predicted as class j."""
    c = np.zeros((classes, classes), np.int64)
    np.add.at(c, (np.asarray(labels), np.asarray(predicted)), 1)
    return c


def plot_confusion(labels: np.ndarray, predicted: np.ndarray, path: str, classes: Optional[int] = None,
                   title: str = "test set") -> str:
    """The confusion matrix as a PNG: rows the true class, columns the predicted one, counts written in."""
    k = int(classes or max(int(np.max(labels)), int(np.max(predicted))) + 1)
    c = confusion_matrix(labels, predicted, k)
    fig = _figure(max(4.0, 0.45 * k + 2), max(3.6, 0.45 * k + 1.6))
    ax = fig.subplots()
    ax.imshow(c, cmap="Blues", interpolation="nearest")
    for i in range(k):
        for j in range(k):
            if c[i, j]:
                ax.text(j, i, str(c[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if c[i, j] > c.max() / 2 else "black")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"confusion matrix, {title}: {int(np.trace(c))} of {int(c.sum())} right", fontsize=9)
    fig.tight_layout()
    return write_file(path, writer=lambda f: fig.savefig(f, format="png"))  # atomic: no partial PNG


def plot_misclassified(X: np.ndarray, labels: np.ndarray, predicted: np.ndarray, path: str,
                       image_shape: Optional[Sequence[int]] = None, max_images: int = 36) -> str:
    """Up to ``max_images`` misclassified examples as images, each titled "true → predicted".

    ``X`` holds the raw inputs (N, features); ``image_shape`` defaults to a square; raises
    ValueError when the inputs are not images."""
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)  # images of any layout, as rows
    if image_shape is None:
        side = int(round(math.sqrt(X.shape[1])))
        if side * side != X.shape[1]:
            raise ValueError(f"{X.shape[1]} input features are not a square image")
        image_shape = (side, side)
    wrong = np.flatnonzero(np.asarray(labels) != np.asarray(predicted))[:max_images]
    cols = max(1, min(6, len(wrong)))
    rows = max(1, int(math.ceil(len(wrong) / cols)))
    fig = _figure(max(cols * 1.2, 4.0), rows * 1.3 + 0.6)
    fig.suptitle(f"{len(wrong)} misclassified test images (true → predicted)" if len(wrong)
                 else "no misclassified test images", fontsize=9)
    axes: List = list(np.atleast_1d(fig.subplots(rows, cols)).ravel())
    for i, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if i < len(wrong):
            n = wrong[i]
            ax.imshow(X[n].reshape(image_shape), cmap="gray_r", interpolation="nearest")
            ax.set_title(f"{labels[n]} → {predicted[n]}", fontsize=8)
        else:
            ax.axis("off")
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - 0.6 / (rows * 1.3 + 0.6), wspace=0.15,
                        hspace=0.4)
    return write_file(path, writer=lambda f: fig.savefig(f, format="png"))  # atomic: no partial PNG
