"""An independent reference for backcheck: the same problems, solved by PyTorch autograd.

Nothing here imports backcheck. Problems are plain dicts (as ``yaml.safe_load`` gives
them, or as a property test builds them); numbers may be ints, floats, or strings such as
``"1/3"`` and ``"1e-3"`` (PyYAML leaves those as strings). Everything is computed in
float64, so agreement with backcheck's float64 view is expected to ~1e-12.

- :func:`torch_reference` solves a layered network (FORMAT §1) and returns FORMAT §3
  names (``x``, ``z1``, ``a1``, …, ``L``, ``dL/dzK``, ``dL/daK``, ``dL/dWK``, ``dL/dbK``,
  ``dL/dx``, ``WK_new``, ``bK_new``) → numpy arrays in the problem's own layout.
- :func:`torch_scalar_reference` solves a scalar expression problem (FORMAT §2) and
  returns every value ``v`` and ``dOUT/dv``.
- :func:`load` reads a problem file; :func:`reference_for` dispatches on its kind.

Choices where FORMAT.md is silent (kept in line with PyTorch):
- relu′(0) = 0; leaky_relu′(0) = slope; abs′(0) = 0.
- ``reduction`` applies to mse, cross_entropy and bce (``sum`` replaces the mean by a
  sum; for cross_entropy the sum is over examples). sse and half_sse are sums by
  definition: ``reduction: sum`` is accepted, ``reduction: mean`` is refused as ambiguous.
- cross_entropy is −Σ t·log p with p the last layer's *output* (usually softmax), taken
  literally with ``log`` of that output, not fused into log-softmax.
"""

from __future__ import annotations

import ast
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

DTYPE = torch.float64

ACTIVATIONS = ("identity", "relu", "leaky_relu", "sigmoid", "tanh", "softmax", "softplus",
               "elu", "gelu", "silu")
LOSSES = ("mse", "sse", "half_sse", "cross_entropy", "bce", "l1", "huber", "hinge")


# --------------------------------------------------------------------------- numbers


def number(value: Any) -> float:
    """A float from a YAML-ish number: int, float, or a string like ``"1/3"``/``"1e-3"``."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected a number, found {value!r}")
    if isinstance(value, (int, float, Fraction)):
        return float(value)
    if isinstance(value, str):
        return float(Fraction(value.replace(" ", "")))
    raise ValueError(f"expected a number, found {value!r}")


def numbers(value: Any) -> Any:
    """Nested lists of numbers → nested lists of floats (a scalar stays a scalar)."""
    if isinstance(value, (list, tuple)):
        return [numbers(item) for item in value]
    return number(value)


def tensor(value: Any, requires_grad: bool = False) -> torch.Tensor:
    return torch.tensor(numbers(value), dtype=DTYPE, requires_grad=requires_grad)


def as_numpy(t: torch.Tensor) -> np.ndarray:
    return np.array(t.detach().cpu().numpy(), dtype=np.float64)


# --------------------------------------------------------------------------- loading


def load(path: str | Path) -> dict:
    import yaml

    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def is_scalar_problem(problem: dict) -> bool:
    return "steps" in problem


def reference_for(problem: dict) -> dict[str, np.ndarray]:
    """Either reference, chosen by the problem's kind."""
    if is_scalar_problem(problem):
        return torch_scalar_reference(problem)
    return torch_reference(problem)


# --------------------------------------------------------------------------- networks


def _activate(name: str, z: torch.Tensor, slope: float, alpha: float = 1.0) -> torch.Tensor:
    if name == "identity":
        return z.clone()  # a separate node, so dL/da and dL/dz are both well defined
    if name == "relu":
        return torch.relu(z)  # derivative 0 at 0
    if name == "leaky_relu":
        return torch.nn.functional.leaky_relu(z, negative_slope=slope)
    if name == "sigmoid":
        return torch.sigmoid(z)
    if name == "tanh":
        return torch.tanh(z)
    if name == "softmax":
        return torch.softmax(z, dim=-1)  # over each example's units
    if name == "softplus":
        return torch.nn.functional.softplus(z)
    if name == "elu":
        return torch.nn.functional.elu(z, alpha=alpha)
    if name == "gelu":
        return torch.nn.functional.gelu(z)  # exact (erf), PyTorch's default
    if name == "silu":
        return torch.nn.functional.silu(z)
    raise ValueError(f"unknown activation {name!r} (known: {', '.join(ACTIVATIONS)})")


def _loss_spec(loss: Any) -> tuple[str, str | None]:
    if isinstance(loss, str):
        return loss, None
    if isinstance(loss, dict):
        return loss["name"], loss.get("reduction")
    raise ValueError(f"loss must be a name or {{name, reduction}}, found {loss!r}")


def _loss(spec: Any, p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    name, reduction = _loss_spec(spec)
    if reduction not in (None, "mean", "sum"):
        raise ValueError(f"unknown reduction {reduction!r} (known: mean, sum)")
    total = reduction == "sum"
    if name == "mse":
        sq = (p - t) ** 2
        return sq.sum() if total else sq.mean()
    if name in ("sse", "half_sse"):
        if reduction == "mean":
            raise ValueError(f"{name} is a sum by definition; reduction 'mean' is ambiguous")
        sq = ((p - t) ** 2).sum()
        return sq / 2 if name == "half_sse" else sq
    if name == "cross_entropy":
        per_example = -(t * torch.log(p)).sum(dim=-1)  # 0-D for one example
        return per_example.sum() if total else per_example.mean()
    if name == "bce":
        elementwise = -(t * torch.log(p) + (1 - t) * torch.log(1 - p))
        return elementwise.sum() if total else elementwise.mean()
    if name == "l1":
        return torch.nn.functional.l1_loss(p, t, reduction="sum" if total else "mean")
    if name == "huber":
        delta = number(spec.get("delta", 1)) if isinstance(spec, dict) else 1.0
        return torch.nn.functional.huber_loss(p, t, reduction="sum" if total else "mean",
                                              delta=delta)
    if name == "hinge":  # CS231n multiclass SVM: Σ_{j≠y} max(0, s_j − s_y + 1) per example
        scores, onehot = p.reshape(-1, p.shape[-1]), t.reshape(-1, t.shape[-1])
        correct = (scores * onehot).sum(dim=-1, keepdim=True)
        margins = torch.clamp(scores - correct + 1, min=0) * (1 - onehot)
        per_example = margins.sum(dim=-1)
        return per_example.sum() if total else per_example.mean()
    raise ValueError(f"unknown loss {name!r} (known: {', '.join(LOSSES)})")


def torch_reference(problem: dict) -> dict[str, np.ndarray]:
    """Forward pass, every gradient of the loss, and one SGD step, by PyTorch autograd.

    A flat ``x`` is one example (1-D vectors); a list of rows is a batch (N × units).
    ``Wx``: z = W·a + b with W (out × in); ``xW``: z = a·W + b with W (in × out).
    """
    convention = problem.get("convention", "Wx")
    if convention not in ("Wx", "xW"):
        raise ValueError(f"unknown convention {convention!r} (known: Wx, xW)")
    x = tensor(problem["x"], requires_grad=True)
    if x.dim() not in (1, 2):
        raise ValueError("x must be a vector or a list of rows")
    layers = problem["layers"]

    weights: list[torch.Tensor] = []
    biases: list[torch.Tensor | None] = []
    pre: list[torch.Tensor] = []
    post: list[torch.Tensor] = []
    a = x
    for layer in layers:
        W = tensor(layer["W"], requires_grad=True)
        if W.dim() != 2:
            raise ValueError("every W must be a matrix (a list of rows)")
        b = tensor(layer["b"], requires_grad=True) if layer.get("b") is not None else None
        if convention == "Wx":
            z = a @ W.T  # one example: W·a; a batch of rows: (W·aᵢ)ᵀ per row
        else:
            z = a @ W
        if b is not None:
            z = z + b
        a = _activate(layer.get("activation", "identity"), z, number(layer.get("slope", 0.01)),
                      number(layer.get("alpha", 1)))
        weights.append(W)
        biases.append(b)
        pre.append(z)
        post.append(a)

    target = tensor(problem["target"])
    if target.shape != a.shape:
        raise ValueError(f"target shape {tuple(target.shape)} != output {tuple(a.shape)}")
    L = _loss(problem["loss"], a, target)
    if problem.get("weight_decay") is not None:  # d2l: λ/2·ΣW² over the weights, not biases
        L = L + number(problem["weight_decay"]) / 2 * sum((W * W).sum() for W in weights)

    wrt: dict[str, torch.Tensor] = {}
    for k in range(1, len(layers) + 1):
        wrt[f"dL/dz{k}"] = pre[k - 1]
        wrt[f"dL/da{k}"] = post[k - 1]
        wrt[f"dL/dW{k}"] = weights[k - 1]
        if biases[k - 1] is not None:
            wrt[f"dL/db{k}"] = biases[k - 1]
    wrt["dL/dx"] = x
    grads = torch.autograd.grad(L, list(wrt.values()), allow_unused=True)
    grad = {
        name: (g if g is not None else torch.zeros_like(t))
        for (name, t), g in zip(wrt.items(), grads)
    }

    out: dict[str, np.ndarray] = {"x": as_numpy(x)}
    for k in range(1, len(layers) + 1):
        out[f"z{k}"] = as_numpy(pre[k - 1])
        out[f"a{k}"] = as_numpy(post[k - 1])
    out["L"] = as_numpy(L)
    # Backward order, as a hand calculation runs: last layer first.
    for k in range(len(layers), 0, -1):
        for name in (f"dL/da{k}", f"dL/dz{k}", f"dL/dW{k}", f"dL/db{k}"):
            if name in grad:
                out[name] = as_numpy(grad[name])
    out["dL/dx"] = as_numpy(grad["dL/dx"])

    if problem.get("learning_rate") is not None:
        lr = number(problem["learning_rate"])
        for k in range(1, len(layers) + 1):
            out[f"W{k}_new"] = as_numpy(weights[k - 1] - lr * grad[f"dL/dW{k}"])
            if biases[k - 1] is not None:
                out[f"b{k}_new"] = as_numpy(biases[k - 1] - lr * grad[f"dL/db{k}"])
    return out


# --------------------------------------------------------------------------- scalars

_FUNCTIONS = {
    "exp": torch.exp,
    "log": torch.log,
    "sqrt": torch.sqrt,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "sin": torch.sin,
    "cos": torch.cos,
    "abs": torch.abs,
}

_BINARY = {
    ast.Add: lambda left, right: left + right,
    ast.Sub: lambda left, right: left - right,
    ast.Mult: lambda left, right: left * right,
    ast.Div: lambda left, right: left / right,
    ast.Pow: lambda left, right: left**right,
}


class _Evaluator:
    """Evaluates one whitelisted expression (FORMAT §2) over torch scalars.

    Only numbers, earlier names, ``+ - * / **``, unary ``-``/``+``, parentheses (implicit
    in the tree) and one-argument calls to the functions in ``_FUNCTIONS``; anything
    else raises ``ValueError`` naming the offending construct.
    """

    def __init__(self, env: dict[str, torch.Tensor], source: str) -> None:
        self.env = env
        self.source = source

    def fail(self, node: ast.AST, why: str) -> ValueError:
        text = ast.get_source_segment(self.source, node) or type(node).__name__
        return ValueError(f"{why}: {text!r} in {self.source!r}")

    def eval(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return self.eval(node.body)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise self.fail(node, "only numbers are allowed as constants")
            return float(node.value)  # a plain float: x**3 differentiates as 3x² only
        if isinstance(node, ast.Name):
            if node.id not in self.env:
                raise self.fail(node, "unknown name")
            return self.env[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = self.eval(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = self.eval(node.left), self.eval(node.right)
            if not isinstance(left, torch.Tensor) and not isinstance(right, torch.Tensor):
                left = torch.tensor(left, dtype=DTYPE)
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.Call):
            if (
                not isinstance(node.func, ast.Name)
                or node.func.id not in _FUNCTIONS
                or len(node.args) != 1
                or node.keywords
            ):
                raise self.fail(node, f"only one-argument calls to {', '.join(_FUNCTIONS)}")
            arg = self.eval(node.args[0])
            if not isinstance(arg, torch.Tensor):
                arg = torch.tensor(arg, dtype=DTYPE)
            return _FUNCTIONS[node.func.id](arg)
        raise self.fail(node, "not allowed")


def _parse_step(step: str) -> tuple[str, ast.Expression, str]:
    if not isinstance(step, str) or "=" not in step:
        raise ValueError(f"a step must read 'name = expression', found {step!r}")
    name, expression = (part.strip() for part in step.split("=", 1))
    if not name.isidentifier():
        raise ValueError(f"{name!r} is not a name (in step {step!r})")
    return name, ast.parse(expression, mode="eval"), expression


def torch_scalar_reference(problem: dict) -> dict[str, np.ndarray]:
    """Every value of a scalar problem and d(output)/d(value), by PyTorch autograd.

    Keys: ``name`` for each value and step, and ``dOUT/dname`` (OUT = the output's name,
    by default the last step's), 0-D float64 arrays. Names the output does not depend on
    get gradient 0; ``dOUT/dOUT`` is 1.
    """
    env: dict[str, torch.Tensor] = {}
    for name, value in (problem.get("values") or {}).items():
        if name in _FUNCTIONS:
            raise ValueError(f"{name!r} is a function name")
        env[str(name)] = torch.tensor(number(value), dtype=DTYPE, requires_grad=True)
    last = None
    for step in problem["steps"]:
        name, tree, expression = _parse_step(step)
        if name in env or name in _FUNCTIONS:
            raise ValueError(f"step {step!r} redefines {name!r}")
        result = _Evaluator(env, expression).eval(tree)
        if not isinstance(result, torch.Tensor):
            result = torch.tensor(result, dtype=DTYPE)
        if not result.requires_grad:  # a constant step: still a node with a gradient
            result = result.detach().requires_grad_(True)
        env[name] = result
        last = name
    output = problem.get("output") or last
    if output not in env:
        raise ValueError(f"output {output!r} is not a value or step")
    names = list(env)
    grads = torch.autograd.grad(env[output], [env[n] for n in names], allow_unused=True)
    out: dict[str, np.ndarray] = {n: as_numpy(env[n]) for n in names}
    for n, g in zip(names, grads):
        out[f"d{output}/d{n}"] = np.array(1.0 if n == output else (0.0 if g is None else float(g)))
    return out


__all__ = [
    "is_scalar_problem",
    "load",
    "number",
    "reference_for",
    "torch_reference",
    "torch_scalar_reference",
]
