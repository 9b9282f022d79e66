r"""The layout of :func:`nabla.plotting.draw_graph`: which nodes, in which column, in which order.

Private: the chapters call ``draw_graph``; these helpers are split off to keep ``plotting.py``
under 400 lines.
"""

from __future__ import annotations

import numpy as np
from matplotlib.textpath import TextToPath


# ---- draw_graph: layout ------------------------------------------------------------------


def tensor_label(tensor):
    """A tensor's name if it has one, else its shape, e.g. ``(3, 2)``."""
    return tensor.name if tensor.name else str(tuple(tensor.shape))


def graph_nodes(tensor):
    """The graph behind ``tensor`` as ``(nodes, edges)``, leaves first.

    ``nodes`` maps a key to ``(kind, label, object)`` with kind ``"leaf"``, ``"tensor"`` or
    ``"op"``; ``edges`` lists ``(from_key, to_key)``: input tensor → op node → output tensor.
    A tensor used twice by one op (``a * a``) gives two edges, one per use.
    """
    nodes, edges = {}, []
    for t in reversed(tensor.topological_order()):  # leaves first
        node = t.source
        key = ("tensor", id(t))
        if node is None:
            nodes[key] = ("leaf", tensor_label(t), t)
            continue
        op_key = ("op", id(node))
        if op_key not in nodes:
            nodes[op_key] = ("op", node.op.__name__, node)
            edges.extend((("tensor", id(x)), op_key) for x in node.inputs)
        nodes[key] = ("tensor", tensor_label(t), t)
        edges.append((op_key, key))
    return nodes, edges


def columns_of(nodes, edges):
    """The column of each node, 0 at the left, and each node's neighbours.

    Every node sits as far right as it can: one column left of the first node that reads
    it, the output in the last column. So a constant sits next to the op that uses it,
    rather than at the far left with a long arrow across the picture.
    """
    predecessors = {key: [] for key in nodes}
    successors = {key: [] for key in nodes}
    for a, b in edges:
        predecessors[b].append(a)
        successors[a].append(b)
    depth = {}  # the longest path from a leaf: it fixes how many columns there are
    for key in nodes:  # leaves first, so every node comes after its predecessors
        depth[key] = 1 + max((depth[p] for p in predecessors[key]), default=-1)
    last = max(depth.values())
    column = {}
    for key in reversed(list(nodes)):  # the output first, every node after its successors
        column[key] = min((column[s] for s in successors[key]), default=last + 1) - 1
    return column, predecessors, successors


def order_within_columns(nodes, column, predecessors, successors, sweeps=4):
    """Nodes of each column, top to bottom, ordered to keep arrows short and uncrossed.

    The barycentre heuristic: sort each column by the mean rank of its neighbours in the
    column before (sweeping right) or after (sweeping left), a few times over.
    """
    n_columns = max(column.values()) + 1
    layers = [[key for key in nodes if column[key] == c] for c in range(n_columns)]
    rank = {key: i for layer in layers for i, key in enumerate(layer)}

    def centred(key):
        layer = layers[column[key]]
        return rank[key] - (len(layer) - 1) / 2

    def resort(layer, neighbours):
        def barycentre(key):
            ranks = [centred(n) for n in neighbours[key]]
            return np.mean(ranks) if ranks else centred(key)

        layer.sort(key=barycentre)
        rank.update({key: i for i, key in enumerate(layer)})

    for _ in range(sweeps):
        for layer in layers[1:]:
            resort(layer, predecessors)
        for layer in reversed(layers[:-1]):
            resort(layer, successors)
    return layers


def node_size(kind, label, font):
    """Width and height in points of the patch drawn around ``label``."""
    width, height, _ = TextToPath().get_text_width_height_descent(label, font, ismath=False)
    height = max(height, font.get_size_in_points() * 0.75)
    if kind == "op":
        # A flat ellipse whose half-width a exceeds the text's half-width x by a few points;
        # its half-height b is then the least that keeps the text's corners (x, y) inside,
        # from x^2/a^2 + y^2/b^2 = 1.
        x, y = width / 2 + 2, height / 2 + 3
        a = x + 7
        b = y / np.sqrt(1 - (x / a) ** 2)
        return 2 * a, 2 * b
    return width + 12, height + 12
