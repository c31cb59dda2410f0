"""The shape every known mistake shares: a :class:`Mistake` (name, where it can happen,
its message), its :class:`Variant` s on a graph (one per place: a buggy local rule or a
transformation of one quantity), the :class:`Finding` a message is written from; and
what they read: the graph's :class:`Structure` and :class:`QuantityValues` (one
evaluation seen as quantities).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from ..exact import Exact
from ..graph import Graph, Quantity
from ..numbers_text import format_exact

# ----------------------------------------------------------------------------- structure


@dataclass
class Structure:
    """Who depends on whom in a graph (computed once per problem)."""

    graph: Graph
    ancestors: list[set[int]]
    descendants: list[set[int]]
    consumers: list[list[tuple[int, int]]]  # node → [(consumer, input position)]
    position: dict[str, int]  # quantity → its place in the order a person works
    deps: dict[str, set[str]]  # quantity → the quantities its value is computed from
    values: list[Any] | None = None  # the true node values, once solved (for ``find``)

    @staticmethod
    def of(graph: Graph) -> Structure:
        n = len(graph.nodes)
        ancestors: list[set[int]] = [set() for _ in range(n)]
        consumers: list[list[tuple[int, int]]] = [[] for _ in range(n)]
        for node in graph.nodes:
            for k, i in enumerate(node.inputs):
                ancestors[node.id] |= ancestors[i] | {i}
                consumers[i].append((node.id, k))
        descendants: list[set[int]] = [set() for _ in range(n)]
        for node in reversed(graph.nodes):
            for c, _ in consumers[node.id]:
                descendants[node.id] |= descendants[c] | {c}
        position: dict[str, int] = {}
        for name, q in graph.quantities.items():
            if q.kind == "value":
                position[name] = q.node
            elif q.kind == "grad":
                position[name] = 2 * n - q.node
            else:
                position[name] = 3 * n + q.node
        by_node: dict[tuple[str, int], str] = {(q.kind, q.node): name
                                               for name, q in graph.quantities.items()}
        deps: dict[str, set[str]] = {}
        values_used = {name for name, q in graph.quantities.items()
                       if q.kind == "value" and q.node != graph.output}
        for name, q in graph.quantities.items():
            if q.kind == "value":
                deps[name] = {by_node[("value", a)] for a in ancestors[q.node]
                              if ("value", a) in by_node}
            elif q.kind == "grad":
                deps[name] = set(values_used) | {
                    by_node[("grad", d)] for d in descendants[q.node] if ("grad", d) in by_node}
        for name, q in graph.quantities.items():
            if q.kind == "update":
                grad = by_node[("grad", q.node)]
                deps[name] = {grad} | deps[grad]
        return Structure(graph, ancestors, descendants, consumers, position, deps)


# ------------------------------------------------------------ one evaluation seen as quantities


class QuantityValues:
    """One evaluation seen as quantities: the truth, what follows from a student's
    answers, or either of them with a buggy rule swapped in.

    ``flat(name)`` is what the graph computed for a quantity *before* the student's own
    numbers were put in its place (flat, in the problem's layout order); ``value`` and
    ``grad`` give node arrays *after* them (what flowed on).
    """

    def __init__(self, graph: Graph, evaluation: Any, origin: str,
                 on_error: Callable[[Exception], None] | None = None) -> None:
        self.graph = graph
        self.evaluation = evaluation
        self.backend = evaluation.backend
        self.origin = origin  # "truth" | "yours"
        self._flat: dict[str, list[Any]] = {}
        #: told of an error of the rules met while reading a quantity of a lazy evaluation
        #: (:class:`~backcheck.evaluate.LazyEvaluation`): its ``flat`` is then all None
        self.on_error = on_error

    @property
    def exact(self) -> bool:
        return self.backend.name == "exact"

    def node(self, name: str) -> int:
        return self.graph.by_name[name]

    def value(self, name: str) -> np.ndarray:
        return self.evaluation.values[self.node(name)]

    def grad(self, name: str) -> np.ndarray:
        node = self.node(name)
        grad = self.evaluation.grads.get(node)
        if grad is None:
            grad = self.backend.asarray(np.zeros(np.shape(self.evaluation.values[node]),
                                                 dtype=int))
        return grad

    def rate(self) -> Any:
        rate = self.graph.problem.learning_rate  # type: ignore[union-attr]
        return rate if self.exact else float(rate)

    def internal(self, name: str) -> np.ndarray:
        q = self.graph.quantities[name]
        ev = self.evaluation
        if q.kind == "value":
            return ev.computed_values.get(q.node, ev.values[q.node])
        grad = ev.computed_grads.get(q.node, ev.grads.get(q.node))
        if grad is None:
            grad = self.backend.asarray(np.zeros(q.internal_shape, dtype=int))
        if q.kind == "grad":
            return grad
        return ev.values[q.node] - self.rate() * ev.grads.get(q.node, grad)

    def flat(self, name: str) -> list[Any]:
        """The quantity's elements, flat; all None where the rules cannot work them out
        from these numbers (log of 0, …: a lazy evaluation meets that only here)."""
        if name not in self._flat:
            try:
                self._flat[name] = list(np.ravel(np.asarray(self.internal(name), dtype=object)))
            except (ArithmeticError, ValueError, TypeError, IndexError) as error:
                if self.on_error is not None:
                    self.on_error(error)
                size = int(np.prod(self.graph.quantities[name].internal_shape))
                self._flat[name] = [None] * size
        return self._flat[name]


# ----------------------------------------------------------------------------- entries

Swaps = dict[int, dict[Any, Callable[..., Any]]]


@dataclass
class Variant:
    """One place a mistake can happen (a layer, a node, a path)."""

    mistake: Mistake
    key: str
    entry: str | None = None  # the quantity where the slip first shows
    swaps: Callable[[QuantityValues], Swaps] | None = None  # buggy local rules (may read the base)
    transform: Callable[[Quantity, QuantityValues], list[Any] | None] | None = None
    affects: frozenset[str] = frozenset()
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.mistake.name

    @property
    def code(self) -> str:
        """The stable mistake code (``relu-mask-missing``, ``transposed``, …)."""
        return self.mistake.code_for(self.info)


@dataclass
class Finding:
    """What a message template gets: the entry, the buggy value, and both bases."""

    variant: Variant
    quantity: Quantity
    flat: int  # element position (flat, layout order)
    element: str  # "dL/dz1[3]"
    given: str  # as the student wrote it
    buggy: Any  # the value the buggy rule gives there
    right: Any  # the right value (from the truth, or from the student's own answers)
    base: QuantityValues  # the base the right value comes from
    structure: Structure

    @property
    def lead(self) -> str:
        return f"{self.element}: you wrote {self.given}"

    @property
    def info(self) -> dict[str, Any]:
        return self.variant.info

    @property
    def at_entry(self) -> bool:
        return self.quantity.name == self.variant.entry

    @property
    def suffix(self) -> str:
        return " (worked from your own earlier answers)" if self.base.origin == "yours" else ""

    def idx(self, name: str | None = None) -> str:
        """This element's index, as written after a name of the same shape."""
        shape = self.quantity.shape
        if name is not None:
            shape = self.base.graph.quantities[name].shape
        if not shape:
            return ""
        index = np.unravel_index(self.flat, shape)
        return "[" + ",".join(str(int(i) + 1) for i in index) + "]"

    def at(self, name: str, *, grad: bool = False) -> Any:
        """A node's value (or gradient) at this element's position, from the base."""
        array = self.base.grad(name) if grad else self.base.value(name)
        return np.ravel(np.asarray(array, dtype=object))[self.flat]


@dataclass(frozen=True)
class Mistake:
    name: str
    summary: str
    #: every place it can happen in a graph: (this mistake, graph, structure) → variants
    find: Callable[[Mistake, Graph, Structure], list[Variant]]
    explain: Callable[[Finding], str]
    #: a whole answer of the wrong shape this mistake explains: (quantity, their array,
    #: truth base, answers so far) → message, or None
    shape: Callable[[Quantity, np.ndarray, QuantityValues, dict[str, np.ndarray]],
                    str | None] | None = None
    #: a stable, kebab-case code for gradebooks and analytics (never renamed once shipped)
    code: str = ""
    #: a more specific code per activation, where the slip has its own name (``relu``:
    #: the missing derivative is the missing mask)
    codes: tuple[tuple[str, str], ...] = ()

    def code_for(self, info: dict[str, Any] | None = None) -> str:
        """The stable code of this mistake at one variant (``info`` of the variant): the
        op record's slip may carry its own (``relu-mask-missing``)."""
        if (info or {}).get("code"):
            return info["code"]  # type: ignore[index]
        act = (info or {}).get("act")
        for name, code in self.codes:
            if name == act:
                return code
        return self.code or self.name.replace("_", "-")

    def variants(self, graph: Graph, structure: Structure) -> list[Variant]:
        """Every place this mistake can happen in ``graph``."""
        return self.find(self, graph, structure)


def fmt(value: Any, digits: int = 4) -> str:
    """A number for a message: exact when short, else 4 significant digits and …"""
    if value is None:
        return "?"
    if isinstance(value, (int, Fraction)):
        value = Exact.of(value)
    if isinstance(value, Exact):
        return format_exact(value, digits)
    number = float(value)
    text = f"{number:.{digits}g}"
    return text if float(text) == number else text + "…"


# ----------------------------------------------------------------------------- building variants


def grad_affects(graph: Graph, structure: Structure, nodes: set[int]) -> frozenset[str]:
    """Quantities changed when the gradient of ``nodes`` changes: their grads and those
    of everything upstream of them, and the updates of those parameters."""
    upstream: set[int] = set(nodes)
    for node in nodes:
        upstream |= structure.ancestors[node]
    return frozenset(name for name, q in graph.quantities.items()
                     if q.kind in ("grad", "update") and q.node in upstream)


def forward_affects(graph: Graph, structure: Structure, node: int) -> frozenset[str]:
    """Quantities changed when the value of ``node`` changes (and every gradient)."""
    downstream = structure.descendants[node] | {node}
    return frozenset(name for name, q in graph.quantities.items()
                     if q.kind != "value" or q.node in downstream)


def rule_variant(mistake: Mistake, key: str, node: int, slot: Any, rule: Callable[..., Any],
                 *, entry: str | None, affects: frozenset[str],
                 info: dict[str, Any] | None = None) -> Variant:
    """The common shape of a slip: one buggy local rule at one node, in place of its
    forward (``slot`` ``"forward"``) or of its vjp for input ``slot``."""
    return Variant(mistake, key, entry=entry, swaps=lambda base: {node: {slot: rule}},
                   affects=affects, info=info or {})
