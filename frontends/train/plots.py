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
    """matplotlib is not installed (install the ``plot`` extra: pip install "chainrule[plot]")."""


def _figure(width, height):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotUnavailable("matplotlib is not installed; install it with pip install \"chainrule[plot]\"") from None
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


LOSS_TITLES = {"cross_entropy": "loss (mean cross-entropy)", "squared_error": "loss (mean squared error)",
               "binary_cross_entropy": "loss (mean binary cross-entropy)"}


def plot_curves(history: Sequence[Dict[str, float]], path: str, loss: str = "cross_entropy") -> str:
    """Loss and accuracy per epoch (train and, if present, test) as a two-panel PNG;
    ``loss`` (a name of ``cr.losses.LOSSES``) titles the loss panel."""
    fig = _figure(10, 4)  # first: it raises PlotUnavailable without matplotlib
    from matplotlib.ticker import MaxNLocator
    epochs = [h["epoch"] for h in history]
    titles = (LOSS_TITLES.get(loss, f"loss ({loss})"), "accuracy")
    for ax, key, title in zip(fig.subplots(1, 2), ("loss", "accuracy"), titles):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        for split in ("train", "test"):
            name = f"{split}_{key}"
            ys = [h.get(name) for h in history]
            if any(y is not None for y in ys):
                ax.plot(epochs, ys, marker="o", markersize=3, label=split)
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
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
