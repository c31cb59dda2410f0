"""``backcheck graph`` in the terminal: the diagram as a rich tree, output first.

The root is the output (L, or the expression's output); each node's children are the
inputs of the operation that made it, down to the leaves, each with its value and its
gradient. A node reached a second time (a value used twice, as micrograd's ``c`` is)
is shown once in full and afterwards as a pointer back.
"""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from rich.tree import Tree

from ..text import escape
from .dot import Diagram, DiagramNode, value_lines

#: nodes shown before the tree is cut short (a wide network has many)
MAX_TREE_NODES = 400


def display_name(label: str) -> str:
    """A node's name for "d…/d(name)": expression texts are parenthesised."""
    return label if label.replace("_", "a").isalnum() or "[" in label else f"({label})"


def _label(item: DiagramNode, diagram: Diagram, digits: int, repeated: bool) -> Text:
    text = Text()
    name = item.label or (item.op_text or "")
    defined = item.op_text if item.op_text and item.op_text.startswith(f"{name} = ") else None
    text.append(escape(name), style="bold")
    if defined and not repeated:
        text.append(escape(defined[len(name):]), style="cyan")
    if item.note and item.note != "scalar":
        text.append(f" ({escape(item.note)})", style="dim")
    if repeated:
        text.append("  ↑ shown above", style="dim")
        return text
    if item.role == "const":
        text.append("  (constant)", style="dim")
        return text
    values = value_lines(item.value, digits)
    grads = value_lines(item.grad, digits) if item.grad is not None else []
    grad_label = f"{diagram.grad_name}/d{display_name(name)}"
    if len(values) <= 1 and len(grads) <= 1:
        _append(text, " = ", values)
        if grads:
            _append(text, f"   {grad_label} = ", grads, style="magenta")
        return text
    text.append("\n")
    _append(text, "  value ", values)
    if grads:
        text.append("\n")
        _append(text, f"  {grad_label} ", grads, style="magenta")
    return text


def _append(text: Text, prefix: str, lines: list[str], style: str = "") -> None:
    if not lines:
        return
    text.append(prefix, style=style)
    text.append(lines[0], style=style)
    indent = " " * (len(text.plain.split("\n")[-1]) - len(lines[0]))
    for line in lines[1:]:
        text.append("\n" + indent + line, style=style)


def graph_tree(diagram: Diagram, *, digits: int = 6) -> Group:
    """The diagram as a rich tree from the output back to the leaves."""
    root_item = diagram.nodes[diagram.output]
    seen: set[str] = set()
    count = 0
    root = Tree(_label(root_item, diagram, digits, False), guide_style="dim")
    seen.add(root_item.key)
    # depth first, in the order the tree is printed, so "shown above" is true
    stack = [(root, iter(root_item.inputs))]
    truncated = False
    while stack and not truncated:
        branch, pending = stack[-1]
        key = next(pending, None)
        if key is None:
            stack.pop()
            continue
        count += 1
        if count > MAX_TREE_NODES:
            truncated = True
            break
        child_item = diagram.nodes[key]
        repeated = key in seen
        child = branch.add(_label(child_item, diagram, digits, repeated))
        if not repeated:
            seen.add(key)
            stack.append((child, iter(child_item.inputs)))
    parts: list = []
    if diagram.title:
        parts.append(Text(escape(diagram.title), style="bold"))
    parts.append(Text(f"from the output back to the leaves; {diagram.grad_name}/dv is the "
                      f"gradient of the output with respect to each node", style="dim"))
    parts.append(root)
    if truncated:
        parts.append(Text(f"… cut short after {MAX_TREE_NODES} nodes; write the whole graph "
                          f"with -o graph.svg (or graph.dot)", style="yellow"))
    return Group(*parts)
