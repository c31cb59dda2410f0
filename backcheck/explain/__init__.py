"""``explain``: one quantity, the way the teaching material works it out.

* The gradient of one element (``dL/dW1[1,2]``): the chain rule along every path from
  the loss down to that element (PadhAI's path for W₁₁₁), each factor named
  (∂L/∂a2[1] · ∂a2[1]/∂z2[1] · ∂z2[1]/∂W1[1,2]), with its formula and its number, the
  product per path, and the sum over paths where several meet (a hidden unit feeding
  several outputs, softmax coupling, a batch summing over examples).
* A whole gradient (``dL/dz1``): the vector rule (``W2ᵀ · dL/dz2 ⊙ relu′(z1)``) with its
  operands' numbers.
* A forward quantity (``z2[1]``): its sum of products; an activation, the loss, an
  updated weight: their formula with the numbers put in.
* A scalar-expression problem: the paths from the output to the name through the steps,
  each factor the partial derivative of one step.
* ``symbolic=True``: the gradient as a SymPy formula in the problem's own symbols, when
  the problem is small enough.

Every number comes from the engine (the exact evaluator and the vector-Jacobian products
of :mod:`backcheck.ops`); the local derivatives are those same rules applied to a one-hot
upstream gradient, so there is no second copy of the calculus. The sum over paths is
checked against the engine's exact gradient before anything is shown
(:class:`~backcheck.errors.InternalError` if they ever disagree).

The package, by job: :mod:`.model` (what an explanation holds, names as text/LaTeX),
:mod:`.paths` (the chain-rule path algorithm), :mod:`.network`, :mod:`.steps` and
:mod:`.tensor` (the elements of each kind of problem), :mod:`.vector_rules`,
:mod:`.forward`, :mod:`.symbolic`.
"""

from __future__ import annotations

from typing import Any

from ..errors import BackcheckError
from ..names import resolve, split_element
from ..problem import NetworkProblem
from ..solution import Solution
from .model import (  # noqa: F401 - the explanation's parts, for the views
    Equation,
    Explanation,
    Factor,
    Formula,
    Path,
    Symbolic,
    latex_name,
    latex_number,
    latex_text,
    paren,
)
from .network import NetworkElements
from .paths import MAX_PATHS, agrees  # noqa: F401 - used by tests and the practice tutor
from .steps import StepElements
from .symbolic import SymbolicTooLarge, numeric, symbolic_formula

_numeric = numeric  # the name tests/test_symbolic.py imports


def _alias(graph: Any, raw: str, index: tuple[int, ...] | None,
           parameters: dict) -> tuple[str, tuple[int, ...] | None]:
    """The names verify accepts (:func:`backcheck.names.answer_name`: Mazur's ``net_h1``,
    ``∂E_total/∂w5``, fast.ai's ``w1.g``, …); a bare weight ``w5`` is that element of its
    matrix. Raises the first name's error when none fits."""
    from ..names import answer_name

    try:
        name, alias_index = answer_name(raw.strip(), graph, scalar=True)
    except BackcheckError as error:
        if "/" in raw or index is not None:
            raise
        try:  # w5: the weight itself, an element of W2
            grad, alias_index = answer_name(f"d{graph.output_name}/d{raw.strip()}", graph,
                                            scalar=True)
        except BackcheckError:
            raise error from None
        param = next((p for p in parameters if graph.grad_name(p) == grad), None)
        if param is None:
            raise error from None
        return param, alias_index
    return name, alias_index if alias_index else index


def parse_quantity(solution: Solution, raw: str) -> tuple[str, tuple[int, ...] | None]:
    """``'dL/dW1[1,2]'`` → ``("dL/dW1", (0, 1))`` (0-based, problem layout), checked."""
    if not isinstance(raw, str) or not raw.strip():
        raise BackcheckError("name a quantity to explain, e.g. 'dL/dW1[1,2]' or 'z2'")
    if len(raw) > 200:
        raise BackcheckError("the quantity name is too long")
    text, index = split_element(raw)
    graph = solution.graph
    known = solution.names
    parameters = {n.name: n for n in graph.nodes if n.op == "param"}
    if text.strip() in ("target", "t") and isinstance(solution.problem, NetworkProblem):
        name = "target"
        problem = solution.problem
        shape = (problem.sizes[-1],) if problem.single else (problem.examples, problem.sizes[-1])
    elif text.strip() in parameters:  # W1, b2: given numbers, not quantities of their own
        name = text.strip()
        shape = graph.quantities[graph.grad_name(name)].shape
    else:
        try:
            name = resolve(text, list(known) + list(parameters), graph.output_name)
        except BackcheckError:
            name, index = _alias(graph, raw, index, parameters)
        shape = (graph.quantities[graph.grad_name(name)].shape if name in parameters
                 else solution.quantity(name).shape)
    if index is None:
        return name, None
    shape_text = " × ".join(str(s) for s in shape)
    if not shape:
        written = ",".join(map(str, index))
        raise BackcheckError(f"{name} is a single number; drop the index [{written}]",
                             hint=f"explain {name}")
    if len(index) != len(shape):
        example = ",".join(["1"] * len(shape))
        kind = "a vector of" if len(shape) == 1 else "a matrix of"
        raise BackcheckError(
            f"{name} is {kind} shape {shape_text}: an element needs {len(shape)} "
            f"index{'es' if len(shape) > 1 else ''}, e.g. {name}[{example}]; got "
            f"[{','.join(map(str, index))}]")
    for position, (i, size) in enumerate(zip(index, shape, strict=True)):
        if not 1 <= i <= size:
            which = "" if len(shape) == 1 else f" (position {position + 1})"
            raise BackcheckError(
                f"index {i}{which} is out of range in {name}[{','.join(map(str, index))}]: "
                f"{name} has shape {shape_text}, so indices run from 1 to {size}",
                hint="indices are 1-based, [row, column] in the problem's own layout")
    return name, tuple(i - 1 for i in index)


def explain(solution: Solution, quantity: str, *, symbolic: bool = False) -> Explanation:
    """Explain one quantity (a name as FORMAT §3 writes it, optionally with ``[i,j]``)."""
    if solution.exact_evaluation is None:
        raise BackcheckError("explain needs the exact solution (not --float-only)")
    try:
        name, index = parse_quantity(solution, quantity)
    except BackcheckError as error:
        raise error.located(solution.problem.file) from None
    if isinstance(solution.problem, NetworkProblem):
        explanation = NetworkElements(solution).explain(name, index)
    elif getattr(solution.problem, "kind", None) == "tensor":
        from .tensor import TensorElements

        explanation = TensorElements(solution).explain(name, index)
    else:
        explanation = StepElements(solution).explain(name, index)
    explanation.title = solution.problem.title or ""
    if symbolic:
        try:
            explanation.symbolic = symbolic_formula(solution, name, index)
        except SymbolicTooLarge as error:
            explanation.symbolic_error = str(error)
    return explanation
