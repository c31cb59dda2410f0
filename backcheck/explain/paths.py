"""The chain rule as paths: every path from the output down to one element, each factor
a local derivative, the products summed (and checked against the backward pass).

The algorithm knows nothing of networks or steps: it walks an :class:`ElementGraph`
(:mod:`.network` for networks, :mod:`.steps` for scalar expressions, :mod:`.tensor`
for tensor problems)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InternalError
from ..exact import Exact
from .model import ONE, ZERO, Explanation, Factor, Path

#: paths listed in full; with more, the paths are cut at a higher node whose gradient is
#: taken from the backward pass (shared sub-products, as PadhAI reuses them)
MAX_PATHS = 16


class ElementGraph:
    """What path finding needs: elements (hashable), their order, parents and factors."""

    output: Any

    def order(self, element: Any) -> int:
        raise NotImplementedError

    def parents(self, element: Any) -> list[tuple[Any, Factor]]:
        raise NotImplementedError

    def cut_factor(self, element: Any) -> Factor:
        raise NotImplementedError

    def name(self, element: Any) -> str:
        raise NotImplementedError

    def grad(self, element: Any) -> Exact:
        raise NotImplementedError

    def max_order(self, start: Any) -> int:
        """Elements at or above this order are always terminal (fused losses)."""
        return self.order(self.output) + 1

    def orders_above(self, start: Any) -> set[int]:
        raise NotImplementedError


class NamedStepGraph(ElementGraph):
    """Problems written as named steps (scalar expressions, tensor steps): an element is
    ``(node id, index)``, ordered by its node; ``named`` holds the named nodes."""

    named: dict[int, Any]

    def order(self, element: Any) -> int:
        return element[0]

    def orders_above(self, start: Any) -> set[int]:
        return {i for i in self.named if i > start[0]}


def _count(graph: ElementGraph, start: Any, threshold: int, cache: dict) -> int:
    """Number of paths from ``start`` up to the output or to the first element at or
    above ``threshold`` (iterative, memoised)."""
    memo: dict[Any, int] = {}
    stack = [(start, False)]
    while stack:
        element, ready = stack.pop()
        if element in memo:
            continue
        if element != start and (element == graph.output or graph.order(element) >= threshold):
            memo[element] = 1
            continue
        if element not in cache:
            cache[element] = graph.parents(element)
        parents = cache[element]
        if ready:
            memo[element] = sum(memo[p] for p, _ in parents)
            continue
        stack.append((element, True))
        for parent, _ in parents:
            if parent not in memo:
                stack.append((parent, False))
    return memo[start]


def _enumerate(graph: ElementGraph, start: Any, threshold: int, cache: dict) -> list[Path]:
    paths: list[Path] = []
    # each stack entry: (element, factors so far from start up, elements so far)
    stack: list[tuple[Any, list[Factor], list[Any]]] = [(start, [], [start])]
    while stack:
        element, factors, elements = stack.pop()
        terminal = element != start and (element == graph.output
                                          or graph.order(element) >= threshold)
        if terminal:
            chain = list(reversed(factors))
            if element != graph.output:
                chain.insert(0, graph.cut_factor(element))
            product = ONE
            for factor in chain:
                product = product * factor.value
            names = [graph.name(e) for e in reversed(elements)]
            if element != graph.output:
                names.insert(0, graph.name(graph.output))
            paths.append(Path(names, chain, product))
            continue
        if element not in cache:
            cache[element] = graph.parents(element)
        for parent, factor in reversed(cache[element]):
            stack.append((parent, factors + [factor], elements + [parent]))
    return paths


def agrees(a: Exact, b: Exact, scale: float = 0.0) -> bool:
    """Exact equality for rationals; otherwise agreement to 40 significant digits (50 are
    kept) of the larger of the two and ``scale``, the size of the terms that were summed
    (a sum that cancels to 0 leaves a residue of about 1e-60 of its terms)."""
    if a.q is not None and b.q is not None:
        return a.q == b.q
    difference = a - b
    if difference.sign() == 0:
        return True
    reference = max(abs(float(a)), abs(float(b)), abs(scale), 1e-300)
    return abs(float(difference.approx)) <= 1e-40 * reference


def magnitude(values: Any) -> float:
    """Σ|v| over some numbers: the scale of a sum of them."""
    return float(sum(abs(float(Exact.of(v))) for v in np.ravel(np.asarray(values, dtype=object))))


def chain_rule(graph: ElementGraph, start: Any) -> tuple[list[Path], int, str]:
    """All paths from the output down to ``start``, cut where there would be too many.

    Returns the paths, the threshold used and a sentence on how they were chosen.
    """
    cache: dict = {}
    full = graph.max_order(start)
    candidates = sorted({graph.order(start) + 1, full}
                        | {o for o in graph.orders_above(start) if o < full}, reverse=True)
    chosen = candidates[-1]
    for threshold in candidates:
        if _count(graph, start, threshold, cache) <= MAX_PATHS:
            chosen = threshold
            break
    paths = _enumerate(graph, start, chosen, cache)
    return paths, chosen, ""


def check_total(total: Exact, expected: Exact, what: str, scale: float = 0.0) -> None:
    if not agrees(total, expected, scale):
        raise InternalError(
            f"the chain-rule paths for {what} sum to {total!r}, but the backward pass gives "
            f"{expected!r}; this is a bug in backcheck, please report it with the problem file")


def _distinct_factors(paths: list[Path]) -> list[Factor]:
    """Each factor once, top down: by distance from the element being explained."""
    seen: dict[tuple[str, str], tuple[int, int, Factor]] = {}
    for path in paths:
        for position, factor in enumerate(path.factors):
            if factor.key() not in seen:
                seen[factor.key()] = (position - len(path.factors), len(seen), factor)
    return [item[2] for item in sorted(seen.values(), key=lambda item: item[:2])]


def fill_paths(explanation: Explanation, paths: list[Path], expected: Exact, what: str) -> None:
    """Set an explanation's total, shown/hidden paths and factors from its chain-rule
    paths, after checking that the paths add up to the backward pass's gradient."""
    total = ZERO
    for path in paths:
        total = total + path.product
    check_total(total, expected, what, magnitude([p.product for p in paths]))
    explanation.total = total
    explanation.paths, explanation.hidden_paths, explanation.hidden_total = _shown(paths)
    explanation.factors = _distinct_factors(explanation.paths)


def _shown(paths: list[Path]) -> tuple[list[Path], int, Exact | None]:
    if len(paths) <= MAX_PATHS:
        return paths, 0, None
    hidden = ZERO
    for path in paths[MAX_PATHS:]:
        hidden = hidden + path.product
    return paths[:MAX_PATHS], len(paths) - MAX_PATHS, hidden
