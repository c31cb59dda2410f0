"""Computational-graph diagrams: micrograd's ``draw_dot`` pictures, as Graphviz DOT text.

Every problem becomes a small *diagram*: value nodes (a record ``label | data | grad``,
as micrograd draws them) and, in front of each computed value, a small circle for the
operation that made it. Three ways to build one:

* a scalar-expression problem: one value node per operation of the steps;
* a network, tensor level: one value node per tensor (x, W1, b1, z1, a1, …, L), small
  matrices written out, larger ones summarised;
* a tiny network with ``scalar=True``: one node per element, every product W·a drawn,
  the way one would expand it by hand.

The same :class:`Diagram` feeds the DOT writer here and the terminal tree of
:mod:`backcheck.render.graph_view`. Nothing here runs Graphviz; see
:func:`render_with_graphviz`.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import BackcheckError
from ..graph import Graph, Node
from ..numbers_text import compact
from ..problem import NetworkProblem
from ..solution import Solution
from ..text import escape

#: a matrix is written out in a node when it is at most this big; otherwise summarised
INLINE_MAX_ELEMENTS = 16
INLINE_MAX_DIM = 8
#: ``--scalar`` refuses networks that would need more value nodes than this
MAX_SCALAR_NODES = 150
#: seconds the ``dot`` program may take
DOT_TIMEOUT = 60
#: significant digits in the tooltips (SVG hover text): enough to check any published digit
TOOLTIP_DIGITS = 12

OP_SYMBOLS = {
    "add": "+", "sub": "−", "mul": "×", "div": "/", "pow": "^", "neg": "−", "exp": "exp",
    "log": "log", "sqrt": "√", "sin": "sin", "cos": "cos", "abs": "|·|", "tanh": "tanh",
    "sigmoid": "σ", "relu": "relu", "leaky_relu": "lrelu", "identity": "=", "softmax": "softmax",
}


@dataclass
class DiagramNode:
    key: str  # a DOT-safe id: letters, digits, _
    label: str  # what the node is called: "z1", "a*b", "W1[1,2]", "2"
    value: Any  # Exact / float, or an array in the problem's layout
    grad: Any = None  # same shape as value; None where there is no gradient (constants)
    op: str | None = None  # the symbol in the operation circle ("+", "σ", "W·a + b")
    op_text: str | None = None  # how the operation reads ("z1 = W1·x + b1")
    inputs: list[str] = field(default_factory=list)
    role: str = "computed"  # "input", "param", "const", "target", "computed", "output"
    note: str | None = None  # e.g. the shape of a tensor


@dataclass
class Diagram:
    title: str
    nodes: dict[str, DiagramNode]
    output: str
    grad_name: str  # "dL" or "dg2": what "grad" means
    kind: str  # "expression", "network" or "scalar network"

    def ordered(self) -> list[DiagramNode]:
        return list(self.nodes.values())


# ----------------------------------------------------------------------------- building


def _evaluation(solution: Solution) -> Any:
    return solution.exact_evaluation or solution.float_evaluation


def _ancestors(graph: Graph, start: int) -> set[int]:
    seen = {start}
    stack = [start]
    while stack:
        for i in graph.nodes[stack.pop()].inputs:
            if i not in seen:
                seen.add(i)
                stack.append(i)
    return seen


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value


def build_diagram(solution: Solution, *, scalar: bool = False) -> Diagram:
    """The diagram of a solved problem (``scalar=True``: a network element by element)."""
    problem = solution.problem
    if isinstance(problem, NetworkProblem):
        if scalar:
            return _scalar_network_diagram(solution)
        return _network_diagram(solution)
    return _expression_diagram(solution)


def _expression_diagram(solution: Solution) -> Diagram:
    graph = solution.graph
    evaluation = _evaluation(solution)
    wanted = _ancestors(graph, graph.output)
    nodes: dict[str, DiagramNode] = {}
    for node in graph.nodes:
        if node.id not in wanted:
            continue
        value = _scalar(evaluation.values[node.id])
        grad = evaluation.grads.get(node.id) if node.requires_grad else None
        grad = None if grad is None else _scalar(grad)
        if node.is_leaf:
            role = "const" if node.op == "const" else "input"
            item = DiagramNode(f"n{node.id}", node.label, value, grad, role=role)
        else:
            inputs = [f"n{i}" for i in node.inputs]
            op_text = node.text or f"{node.label}"
            item = DiagramNode(f"n{node.id}", node.label, value, grad,
                               op=OP_SYMBOLS.get(node.op, node.op), op_text=op_text,
                               inputs=inputs)
        if node.id == graph.output:
            item.role = "output"
        nodes[item.key] = item
    return Diagram(solution.problem.title or "", nodes, f"n{graph.output}",
                   f"d{graph.output_name}", "expression")


def _network_op(node: Node, problem: NetworkProblem) -> tuple[str, str]:
    k = node.layer or 0
    previous = "x" if k == 1 else f"a{k - 1}"
    if node.op == "linear":
        bias = f" + b{k}" if len(node.inputs) == 3 else ""
        if problem.convention == "Wx":
            return f"W·a{' + b' if bias else ''}", f"z{k} = W{k}·{previous}{bias}"
        return f"a·W{' + b' if bias else ''}", f"z{k} = {previous}·W{k}{bias}"
    if node.op == "loss":
        kind = node.attrs["kind"]
        return kind, f"L = {kind}(a{len(problem.layers)}, target) ({problem.reduction})"
    symbol = OP_SYMBOLS.get(node.op, node.op)
    if node.op == "identity":
        symbol = "id"
    return symbol, f"a{k} = {node.op}(z{k})"


def _layout(solution: Solution, node: Node, array: Any) -> Any:
    if node.name in solution.graph.quantities:
        return solution.graph.quantities[node.name].to_layout(array)
    return array


def _network_diagram(solution: Solution) -> Diagram:
    graph = solution.graph
    problem = solution.problem
    evaluation = _evaluation(solution)
    nodes: dict[str, DiagramNode] = {}
    for node in graph.nodes:
        value = _layout(solution, node, evaluation.values[node.id])
        grad = evaluation.grads.get(node.id) if node.requires_grad else None
        if grad is not None:
            grad = _layout(solution, node, grad)
        label = "target" if node.op == "target" else (node.name or node.label)
        if node.op == "target" and problem.single:
            value = value[0]  # one example: a flat vector, like the output it matches
        shape = np.shape(value)
        note = "scalar" if not shape else " × ".join(str(s) for s in shape)
        if node.is_leaf:
            role = {"input": "input", "param": "param", "target": "target"}.get(node.op, "const")
            item = DiagramNode(f"n{node.id}", label, value, grad, role=role, note=note)
        else:
            symbol, text = _network_op(node, problem)
            item = DiagramNode(f"n{node.id}", label, _scalar(value), grad, op=symbol,
                               op_text=text, inputs=[f"n{i}" for i in node.inputs], note=note)
        if node.id == graph.output:
            item.role = "output"
            item.value = _scalar(item.value)
            item.grad = _scalar(item.grad)
        nodes[item.key] = item
    return Diagram(problem.title or "", nodes, f"n{graph.output}", "dL", "network")


def _scalar_network_diagram(solution: Solution) -> Diagram:
    """One node per element: x[i], W1[j,i], each product W·a, z1[j], a1[j], …, L."""
    graph = solution.graph
    problem: NetworkProblem = solution.problem  # type: ignore[assignment]
    evaluation = _evaluation(solution)
    examples = problem.examples
    sizes = problem.sizes
    products = sum(examples * sizes[k] * sizes[k + 1] for k in range(len(problem.layers)))
    elements = sum(int(np.size(evaluation.values[n.id])) for n in graph.nodes)
    total = products + elements
    if total > MAX_SCALAR_NODES:
        raise BackcheckError(
            f"network too large for --scalar: {total} element nodes (at most "
            f"{MAX_SCALAR_NODES}); a diagram that size cannot be read",
            file=problem.file,
            hint="drop --scalar for one node per tensor operation",
        )
    multi = not problem.single

    def name(node: Node, index: tuple[int, ...]) -> str:
        base = "target" if node.op == "target" else node.name
        if node.op == "target":
            layout = index if multi else index[1:]
            return f"t[{','.join(str(i + 1) for i in layout)}]"
        quantity = graph.quantities.get(node.name)
        shape = quantity.shape if quantity else np.shape(evaluation.values[node.id])
        internal = np.shape(evaluation.values[node.id])
        if not shape:
            return base
        flat = int(np.ravel_multi_index(index, internal))
        layout = np.unravel_index(flat, shape)
        return f"{base}[{','.join(str(int(i) + 1) for i in layout)}]"

    def key(node: Node, index: tuple[int, ...]) -> str:
        return "e" + "_".join([str(node.id)] + [str(i) for i in index])

    nodes: dict[str, DiagramNode] = {}

    def value_of(node: Node, index: tuple[int, ...]) -> tuple[Any, Any]:
        value = evaluation.values[node.id][index]
        grad = evaluation.grads.get(node.id) if node.requires_grad else None
        return value, (None if grad is None else grad[index])

    def add_leaf(node: Node) -> None:
        role = {"input": "input", "param": "param", "target": "target"}[node.op]
        for index in np.ndindex(np.shape(evaluation.values[node.id])):
            value, grad = value_of(node, index)
            item = DiagramNode(key(node, index), name(node, index), value, grad, role=role)
            nodes[item.key] = item

    by_id = {node.id: node for node in graph.nodes}
    for node in graph.nodes:
        if node.is_leaf:
            add_leaf(node)
            continue
        shape = np.shape(evaluation.values[node.id])
        if node.op == "linear":
            a_node, W_node = by_id[node.inputs[0]], by_id[node.inputs[1]]
            b_node = by_id[node.inputs[2]] if len(node.inputs) == 3 else None
            W = evaluation.values[W_node.id]
            a = evaluation.values[a_node.id]
            for n, j in np.ndindex(shape):
                z_value, z_grad = value_of(node, (n, j))
                inputs = []
                for i in range(np.shape(a)[1]):
                    w_index = (j, i) if problem.convention == "Wx" else (i, j)
                    product = DiagramNode(
                        f"p{node.id}_{n}_{j}_{i}", "", W[w_index] * a[n, i], z_grad, op="×",
                        op_text=f"{name(W_node, w_index)}·{name(a_node, (n, i))}",
                        inputs=[key(W_node, w_index), key(a_node, (n, i))])
                    nodes[product.key] = product
                    inputs.append(product.key)
                if b_node is not None:
                    inputs.append(key(b_node, (j,)))
                item = DiagramNode(key(node, (n, j)), name(node, (n, j)), z_value, z_grad,
                                   op="+", op_text=f"{name(node, (n, j))} = Σ W·a"
                                   + (" + b" if b_node is not None else ""), inputs=inputs)
                nodes[item.key] = item
        elif node.op == "loss":
            p_node, t_node = by_id[node.inputs[0]], by_id[node.inputs[1]]
            inputs = []
            for index in np.ndindex(np.shape(evaluation.values[p_node.id])):
                inputs += [key(p_node, index), key(t_node, index)]
            symbol, text = _network_op(node, problem)
            value, grad = value_of(node, ())
            nodes["L"] = DiagramNode("L", "L", value, grad, op=symbol, op_text=text,
                                     inputs=inputs, role="output")
        else:  # an activation
            z_node = by_id[node.inputs[0]]
            symbol = "id" if node.op == "identity" else OP_SYMBOLS.get(node.op, node.op)
            for n, j in np.ndindex(shape):
                value, grad = value_of(node, (n, j))
                if node.op == "softmax":
                    inputs = [key(z_node, (n, q)) for q in range(shape[1])]
                else:
                    inputs = [key(z_node, (n, j))]
                item = DiagramNode(key(node, (n, j)), name(node, (n, j)), value, grad,
                                   op=symbol, op_text=f"{name(node, (n, j))} = {node.op}(…)",
                                   inputs=inputs)
                nodes[item.key] = item
    return Diagram(problem.title or "", nodes, "L", "dL", "scalar network")


# ----------------------------------------------------------------------------- text


def is_compact(value: Any) -> bool:
    shape = np.shape(value)
    return int(np.prod(shape)) <= INLINE_MAX_ELEMENTS and all(s <= INLINE_MAX_DIM for s in shape)


def summarise(value: Any, digits: int) -> str:
    """A large array in one line: shape, range and mean."""
    array = np.asarray(value, dtype=object)
    floats = np.vectorize(float, otypes=[np.float64])(array) if array.size else np.zeros(0)
    shape = " × ".join(str(s) for s in array.shape)
    if not array.size:
        return f"{shape} (empty)"
    low, high = float(floats.min()), float(floats.max())
    mean = float(floats.mean())
    return (f"{shape}: min {compact(low, digits)}, max {compact(high, digits)}, "
            f"mean {compact(mean, digits)}")


def compact_array(value: Any, digits: int) -> str:
    """A scalar, vector or matrix (one row a line) of :func:`compact` numbers."""
    array = np.asarray(value, dtype=object)
    if array.ndim == 0:
        return compact(array.item(), digits)
    cells = np.vectorize(lambda v: compact(v, digits), otypes=[object])(array)
    if array.ndim == 1:
        return "[" + "  ".join(cells.tolist()) + "]"
    cells = cells.reshape(array.shape[0], -1)
    widths = [max(len(c) for c in cells[:, j]) for j in range(cells.shape[1])]
    lines = []
    for i, row in enumerate(cells):
        body = "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True))
        lines.append(("[[" if i == 0 else " [") + body + ("]]" if i == len(cells) - 1 else "]"))
    return "\n".join(lines)


def value_lines(value: Any, digits: int) -> list[str]:
    """A value as one or more lines of text (matrices one row a line)."""
    if value is None:
        return []
    if np.ndim(value) == 0:
        return [compact(_scalar(value), digits)]
    if not is_compact(value):
        return [summarise(value, digits)]
    return compact_array(value, digits).split("\n")


def escape_record(text: str) -> str:
    """Text inside one field of a Graphviz record label: brace, bar, angle brackets,
    quotes and backslashes are escaped; spaces too (so matrix columns stay aligned);
    control and bidi characters become visible escapes (``\\x1b``)."""
    out = []
    for char in escape(text):
        if char in '\\{}|<>"':
            out.append("\\" + char)
        elif char == " ":
            out.append("\\ ")
        elif char in "\n\r\t" or ord(char) < 32 or ord(char) == 127:
            out.append("\\ ")
        else:
            out.append(char)
    return "".join(out)


def escape_string(text: str) -> str:
    """Text inside a quoted DOT string (a plain label or a tooltip); a newline is a
    line break, any other control or bidi character a visible escape."""
    out = []
    for char in "\n".join(escape(line) for line in text.split("\n")):
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "\n":
            out.append("\\n")
        elif ord(char) < 32 or ord(char) == 127:
            out.append(" ")
        else:
            out.append(char)
    return "".join(out)


def _field(prefix: str, lines: list[str]) -> str:
    """One record field; several lines are left-justified (\\l) so matrices line up."""
    if len(lines) <= 1:
        return escape_record(prefix + (lines[0] if lines else ""))
    body = "\\l".join(escape_record(line) for line in [prefix.rstrip()] + lines)
    return body + "\\l"


def _tooltip(item: DiagramNode, grad_name: str) -> str:
    parts = []
    if item.op_text:
        parts.append(item.op_text)
    label = item.label or (item.op_text or "")
    parts.append(f"{label} = " + "\n".join(value_lines(item.value, TOOLTIP_DIGITS)))
    if item.grad is not None:
        parts.append(f"{grad_name}/d{label} = " + "\n".join(value_lines(item.grad, TOOLTIP_DIGITS)))
    return "\n".join(parts)


ROLE_COLORS = {
    "input": "#e8f1fb", "param": "#fdf3dc", "const": "#f2f2f2", "target": "#f2f2f2",
    "computed": "#ffffff", "output": "#e3f5e1",
}


def to_dot(diagram: Diagram, *, digits: int = 6) -> str:
    """The diagram as Graphviz DOT text (left to right, like micrograd's draw_dot)."""
    lines = [
        "digraph backcheck {",
        '  graph [rankdir=LR, fontname="Helvetica", labelloc=t, fontsize=14, nodesep=0.25,'
        ' ranksep=0.45, label="' + escape_string(_graph_label(diagram)) + '"];',
        '  node [fontname="DejaVu Sans Mono", fontsize=10];',
        '  edge [color="#555555", arrowsize=0.7];',
    ]
    for item in diagram.ordered():
        title = item.label + (f" ({item.note})" if item.note and item.note != "scalar" else "")
        fields = []
        if title:
            fields.append(escape_record(title))
        fields.append(_field("data ", value_lines(item.value, digits)))
        if item.grad is not None:
            fields.append(_field("grad ", value_lines(item.grad, digits)))
        # micrograd's horizontal record for scalars; tensors stack name, data and grad
        # vertically (in a left-to-right graph a record without braces is vertical)
        stacked = diagram.kind == "network"
        label = " | ".join(fields) if stacked else "{ " + " | ".join(fields) + " }"
        attributes = [
            "shape=record",
            f'label="{label}"',
            f'tooltip="{escape_string(_tooltip(item, diagram.grad_name))}"',
            "style=filled",
            f'fillcolor="{ROLE_COLORS.get(item.role, "#ffffff")}"',
        ]
        if item.role == "output":
            attributes.append("penwidth=2")
        lines.append(f"  {item.key} [{', '.join(attributes)}];")
        if item.op is not None:
            op_key = f"{item.key}_op"
            lines.append(
                f'  {op_key} [shape=circle, margin=0.02, width=0.3, fontname="Helvetica",'
                f' label="{escape_string(item.op)}",'
                f' tooltip="{escape_string(item.op_text or item.op)}"];'
            )
            lines.append(f"  {op_key} -> {item.key};")
            for source in item.inputs:
                lines.append(f"  {source} -> {op_key};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _graph_label(diagram: Diagram) -> str:
    grad = "d" + diagram.grad_name[1:]
    what = f"data = value, grad = {grad}/d(node)"
    return f"{escape(diagram.title)}\n{what}" if diagram.title else what


# ----------------------------------------------------------------------------- graphviz

INSTALL_HINT = ("install Graphviz for SVG and PNG: `apt-get install graphviz` (Debian, Ubuntu) "
                "or `brew install graphviz` (macOS); then run this command again")


def find_dot() -> str | None:
    return shutil.which("dot")


def render_with_graphviz(dot_text: str, fmt: str, path: str, dot_program: str) -> bytes:
    """Run Graphviz's ``dot`` (list arguments, no shell, a timeout); return the image."""
    try:
        result = subprocess.run(
            [dot_program, f"-T{fmt}"], input=dot_text.encode("utf-8"), capture_output=True,
            timeout=DOT_TIMEOUT, check=False,
        )
    except subprocess.TimeoutExpired:
        raise BackcheckError(f"Graphviz took longer than {DOT_TIMEOUT} s to draw the graph",
                             file=path, hint="write the DOT text with -o graph.dot") from None
    except OSError as error:
        raise BackcheckError(f"could not run Graphviz's dot: {error}", file=path,
                             hint=INSTALL_HINT) from None
    if result.returncode != 0 or not result.stdout:
        message = result.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = message[-1] if message else f"exit status {result.returncode}"
        raise BackcheckError(f"Graphviz could not draw the graph: {detail}", file=path)
    return result.stdout
