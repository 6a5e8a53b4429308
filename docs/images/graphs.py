"""Draw the small computational graphs of the derivation pages as SVG files beside this script.

    python docs/images/graphs.py            # rewrites docs/images/graph-*.svg

Each figure is a few operation boxes with the forward pass in black (solid arrows, tensor labels above)
and the backward pass in red (dashed arrows, gradient labels below). Labels use a tiny markup: `x_t` or
`x_{t-1}` is a subscript, `x^{T}` a superscript. No dependencies beyond the standard library, so the
figures can be redrawn anywhere; tests/docs/test_docs_figures.py holds the committed files equal to this
script's output.
"""

# The labels are math, written as on the pages: the sigmoid's Greek letter, a true minus sign.
# ruff: noqa: RUF001

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

FONT = 15  # px: legible at the width the theme gives a figure (~700-900 px)
CHAR = 0.58 * FONT  # approximate advance of one character of the sans-serif font
INK, RED, BOX, PARAM_BOX = "#1a1a1a", "#c62828", "#e8eef7", "#fdf3dc"
GAP = 7  # px between a forward edge and the backward edge drawn beside it


@dataclass(frozen=True)
class Node:
    """A box centred at (x, y). kind: "op" (an operation), "param" (a weight), "end" (a tensor, no box)."""

    label: str
    x: float
    y: float
    kind: str = "op"


@dataclass(frozen=True)
class Edge:
    """An arrow from node `a` to node `b`: "fwd" (black, label above/left) or "bwd" (red, label below/right).
    `shift` moves the label along the edge, as a fraction of its length from the middle."""

    a: str
    b: str
    label: str = ""
    kind: str = "fwd"
    shift: float = 0.0


_TOKEN = re.compile(r"([_^])(\{[^}]*\}|.)")


def _spans(label: str) -> tuple[str, float]:
    """SVG text content for `label` in the markup above, and its approximate width in px."""
    out, width, pos = [], 0.0, 0
    for match in _TOKEN.finditer(label):
        plain = label[pos : match.start()]
        out.append(escape(plain))
        width += len(plain) * CHAR
        script = match.group(2).strip("{}").replace("_", "")  # no nesting: G_{h_1} reads G_{h1}
        shift = "sub" if match.group(1) == "_" else "super"
        out.append(f'<tspan baseline-shift="{shift}" font-size="{0.72 * FONT:.1f}">{escape(script)}</tspan>')
        width += len(script) * CHAR * 0.72
        pos = match.end()
    out.append(escape(label[pos:]))
    width += len(label[pos:]) * CHAR
    return "".join(out), width


def _size(node: Node) -> tuple[float, float]:
    _, width = _spans(node.label)
    return (width + 22, FONT + 16) if node.kind != "end" else (width + 6, FONT + 6)


def _border(node: Node, towards_x: float, towards_y: float) -> tuple[float, float]:
    """Where the line from the node's centre towards (towards_x, towards_y) leaves its box."""
    w, h = _size(node)
    dx, dy = towards_x - node.x, towards_y - node.y
    if dx == 0 and dy == 0:
        return node.x, node.y
    scale = min(w / 2 / abs(dx) if dx else float("inf"), h / 2 / abs(dy) if dy else float("inf"))
    return node.x + dx * scale, node.y + dy * scale


def _text(x: float, y: float, label: str, color: str, anchor: str = "middle", italic: bool = False) -> str:
    content, _ = _spans(label)
    style = ' font-style="italic"' if italic else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" fill="{color}" text-anchor="{anchor}"{style}>{content}</text>'


def render(title: str, width: int, height: int, nodes: dict[str, Node], edges: list[Edge]) -> str:
    """The SVG document of one figure."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="{FONT}" '
        'role="img">',
        f"<title>{escape(title)}</title>",
        "<defs>",
        *(
            f'<marker id="{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>'
            for name, color in (("fwd", INK), ("bwd", RED))
        ),
        "</defs>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for edge in edges:
        a, b = nodes[edge.a], nodes[edge.b]
        x1, y1 = _border(a, b.x, b.y)
        x2, y2 = _border(b, a.x, a.y)
        length = max(((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5, 1e-9)
        # Unit normal pointing down (horizontal edges) or right (vertical ones): backward edges sit there.
        nx, ny = -(y2 - y1) / length, (x2 - x1) / length
        if ny < 0 or (ny == 0 and nx < 0):
            nx, ny = -nx, -ny
        side = 1 if edge.kind == "bwd" else -1
        offset = GAP * side
        x1, y1, x2, y2 = x1 + nx * offset, y1 + ny * offset, x2 + nx * offset, y2 + ny * offset
        color, dash = (RED, ' stroke-dasharray="6 4"') if edge.kind == "bwd" else (INK, "")
        parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}" '
            f'stroke-width="1.6"{dash} marker-end="url(#{edge.kind})"/>'
        )
        if edge.label:
            t = 0.5 + edge.shift
            mx, my = x1 + (x2 - x1) * t, y1 + (y2 - y1) * t
            if abs(ny) >= abs(nx):  # a horizontal-ish edge: label above (forward) or below (backward)
                ly = my - 9 if side < 0 else my + FONT + 5
                parts.append(_text(mx, ly, edge.label, color))
            else:  # a vertical-ish edge: label left (forward) or right (backward)
                anchor = "end" if side < 0 else "start"
                parts.append(_text(mx + 8 * side, my + FONT / 3, edge.label, color, anchor))
    for node in nodes.values():
        w, h = _size(node)
        if node.kind != "end":
            fill = PARAM_BOX if node.kind == "param" else BOX
            parts.append(
                f'<rect x="{node.x - w / 2:.1f}" y="{node.y - h / 2:.1f}" width="{w:.1f}" height="{h:.1f}" '
                f'rx="6" fill="{fill}" stroke="{INK}" stroke-width="1.2"/>'
            )
        parts.append(_text(node.x, node.y + FONT / 3, node.label, INK, italic=node.kind == "end"))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _legend(y: float) -> tuple[dict[str, Node], list[Edge]]:
    nodes = {
        "lf0": Node("", 30, y, "end"),
        "lf1": Node("forward", 160, y, "end"),
        "lb0": Node("", 290, y, "end"),
        "lb1": Node("backward (gradients)", 470, y, "end"),
    }
    return nodes, [Edge("lf0", "lf1", kind="fwd"), Edge("lb1", "lb0", kind="bwd")]


def _figure(
    title: str, width: int, height: int, nodes: dict[str, Node], edges: list[Edge]
) -> tuple[str, int, int, dict[str, Node], list[Edge]]:
    legend_nodes, legend_edges = _legend(height - 18)
    return title, width, height, {**nodes, **legend_nodes}, [*edges, *legend_edges]


def figures() -> dict[str, tuple[str, int, int, dict[str, Node], list[Edge]]]:
    """Every figure by file name: (title, width, height, nodes, edges)."""
    seed = {
        "x": Node("x", 25, 150, "end"),
        "emb": Node("Embedding", 130, 150),
        "pool": Node("mean_t", 290, 150),
        "d1": Node("Dense, relu", 450, 150),
        "d2": Node("Dense, σ", 630, 150),
        "bce": Node("BCE(y, p)", 800, 150),
        "L": Node("L", 900, 150, "end"),
        "E": Node("E", 130, 50, "param"),
        "W1": Node("W_1, b_1", 450, 50, "param"),
        "W2": Node("W_2, b_2", 630, 50, "param"),
    }
    seed_edges = [
        Edge("x", "emb"),
        Edge("emb", "pool", "E_x"),
        Edge("pool", "d1", "h"),
        Edge("d1", "d2", "a_1"),
        Edge("d2", "bce", "p"),
        Edge("bce", "L"),
        Edge("pool", "emb", "G_h / T", "bwd"),
        Edge("d1", "pool", "G_{z_1} W_1^{T}", "bwd"),
        Edge("d2", "d1", "G_{z_2} W_2^{T}", "bwd"),
        Edge("bce", "d2", "G_p", "bwd"),
        Edge("E", "emb"),
        Edge("W1", "d1"),
        Edge("W2", "d2"),
        Edge("emb", "E", "dE", "bwd"),
        Edge("d1", "W1", "dW_1, db_1", "bwd"),
        Edge("d2", "W2", "dW_2, db_2", "bwd"),
    ]
    core = {
        "X": Node("X", 30, 150, "end"),
        "aff": Node("X W + b", 220, 150),
        "act": Node("act", 450, 150),
        "A": Node("A", 640, 150, "end"),
        "W": Node("W, b", 220, 50, "param"),
    }
    core_edges = [
        Edge("X", "aff"),
        Edge("aff", "act", "Z"),
        Edge("act", "A"),
        Edge("A", "act", "G_A", "bwd"),
        Edge("act", "aff", "G_Z = G_A ⊙ act'(Z)", "bwd"),
        Edge("aff", "X", "G_Z W^{T}", "bwd"),
        Edge("W", "aff"),
        Edge("aff", "W", "X^{T} G_Z,  Σ_n G_Z", "bwd"),
    ]
    emb = {
        "x": Node("x (B, T)", 45, 150, "end"),
        "gather": Node("E[x]", 230, 150),
        "mean": Node("mean over t", 470, 150),
        "h": Node("h (B, D)", 680, 150, "end"),
        "E": Node("E (V, D)", 230, 50, "param"),
        "x2": Node("x (B, T)", 45, 330, "end"),
        "count": Node("count ids", 230, 330),
        "prod": Node("S C E", 470, 330),
        "H": Node("H (B, D)", 680, 330, "end"),
        "E2": Node("E (V, D)", 470, 250, "param"),
        "tag1": Node("readable layers", 820, 150, "end"),
        "tag2": Node("fused (fit)", 820, 330, "end"),
    }
    emb_edges = [
        Edge("x", "gather"),
        Edge("gather", "mean", "E_x (B, T, D)"),
        Edge("mean", "h"),
        Edge("h", "mean", "G_h", "bwd"),
        Edge("mean", "gather", "G_h / T, every t", "bwd"),
        Edge("E", "gather"),
        Edge("gather", "E", "scatter-add over ids", "bwd"),
        Edge("x2", "count"),
        Edge("count", "prod", "C (B, V), s"),
        Edge("prod", "H"),
        Edge("H", "prod", "G", "bwd"),
        Edge("E2", "prod"),
        Edge("prod", "E2", "C^{T} diag(s) G", "bwd"),
    ]
    conv = {
        "x": Node("x (B, T, C)", 50, 150, "end"),
        "im2col": Node("pad, im2col", 215, 150),
        "gemm": Node("X W + b", 420, 150),
        "relu": Node("relu", 580, 150),
        "max": Node("max_t", 730, 150),
        "m": Node("m", 850, 150, "end"),
        "W": Node("W (K, C, F), b", 420, 50, "param"),
    }
    conv_edges = [
        Edge("x", "im2col"),
        Edge("im2col", "gemm", "X (BT', KC)"),
        Edge("gemm", "relu", "z"),
        Edge("relu", "max", "c"),
        Edge("max", "m"),
        Edge("m", "max", "G", "bwd"),
        Edge("max", "relu", "to maxima", "bwd"),
        Edge("relu", "gemm", "G_z", "bwd"),
        Edge("gemm", "im2col", "G_z W^{T}", "bwd"),
        Edge("im2col", "x", "col2im", "bwd"),
        Edge("W", "gemm"),
        Edge("gemm", "W", "X^{T} G_z,  Σ G_z", "bwd"),
    ]
    rec = {
        "h0": Node("h_0 = 0", 40, 160, "end"),
        "c1": Node("cell, t = 1", 220, 160),
        "c2": Node("cell, t = 2", 470, 160),
        "c3": Node("cell, t = 3", 720, 160),
        "h3": Node("h_3", 870, 160, "end"),
        "x1": Node("x_1", 220, 290, "end"),
        "x2": Node("x_2", 470, 290, "end"),
        "x3": Node("x_3", 720, 290, "end"),
        "W": Node("W, R, b: shared by every step", 470, 45, "param"),
    }
    rec_edges = [
        Edge("h0", "c1"),
        Edge("c1", "c2", "h_1"),
        Edge("c2", "c3", "h_2"),
        Edge("c3", "h3"),
        Edge("h3", "c3", "G_{h_3}", "bwd"),
        Edge("c3", "c2", "G_{h_2}", "bwd"),
        Edge("c2", "c1", "G_{h_1}", "bwd"),
        *(Edge(f"x{t}", f"c{t}") for t in (1, 2, 3)),
        *(Edge(f"c{t}", f"x{t}", f"G_{{x_{t}}}", "bwd") for t in (1, 2, 3)),
        Edge("W", "c1"),
        Edge("W", "c3"),
        Edge("c2", "W", "G_W, G_R, G_b: Σ over t", "bwd"),
        Edge("W", "c2"),
    ]
    loss = {
        "z": Node("z", 30, 110, "end"),
        "sig": Node("σ", 170, 110),
        "bce": Node("BCE(y, p)", 420, 110),
        "L": Node("L", 580, 110, "end"),
        "g": Node("g_t", 30, 280, "end"),
        "mv": Node("m_t, v_t update", 230, 280),
        "step": Node("p − a_t m_t / (√v_t + ε)", 560, 280),
        "p": Node("p_t", 820, 280, "end"),
    }
    loss_edges = [
        Edge("z", "sig"),
        Edge("sig", "bce", "p"),
        Edge("bce", "L"),
        Edge("bce", "sig", "G_p", "bwd"),
        Edge("sig", "z", "G_p p(1 − p)", "bwd"),
        Edge("g", "mv"),
        Edge("mv", "step", "m_t, v_t"),
        Edge("step", "p"),
    ]
    return {
        "graph-seed-model.svg": _figure("The seed model: forward and backward", 940, 250, seed, seed_edges),
        "graph-core.svg": _figure("Dense with its activation", 700, 250, core, core_edges),
        "graph-embedding-pooling.svg": _figure(
            "Embedding and average pooling, readable and fused", 920, 430, emb, emb_edges
        ),
        "graph-convolution.svg": _figure("Conv1D, ReLU, global max pooling", 920, 250, conv, conv_edges),
        "graph-recurrent.svg": _figure(
            "A recurrent layer unrolled over three steps", 920, 370, rec, rec_edges
        ),
        "graph-losses-optimizers.svg": _figure(
            "Sigmoid and binary cross-entropy; one Adam step", 900, 370, loss, loss_edges
        ),
    }


def write_all(folder: Path) -> list[Path]:
    """Write every figure into `folder`; returns the paths written."""
    written = []
    for name, spec in figures().items():
        path = folder / name
        path.write_text(render(*spec), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_all(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent):
        print(path)
