"""An independent reference for tensor problems: the parsed steps run as PyTorch float64
code, with PyTorch's own autograd for every gradient (nothing of backcheck's calculus).

Each construct maps to the PyTorch call a person would write (``x.sum(dim, keepdim)``,
``torch.softmax``, ``F.conv2d``, ``F.max_pool2d``, ``x[idx]``); NumPy's meanings where
PyTorch differs (``var`` is ddof=0 by default, as NumPy's).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812


def _axis(keywords: dict, default: Any = None) -> Any:
    return keywords.get("axis", default)


def run_torch(problem: Any) -> dict[str, np.ndarray]:
    """Every value and every gradient (``dOUT/dv``) of a TensorProblem, float64."""
    env: dict[str, torch.Tensor] = {}
    integers = problem.integer_names
    for name, value in problem.values.items():
        array = np.vectorize(float, otypes=[np.float64])(value) if value.size else value
        tensor = torch.tensor(array, dtype=torch.float64)
        if name in integers:
            tensor = tensor.long()
        elif name not in problem.constants:
            tensor.requires_grad_(True)
        env[name] = tensor

    def ev(expr: tuple) -> Any:
        kind = expr[0]
        if kind == "num":
            return torch.tensor(float(expr[1]), dtype=torch.float64)
        if kind == "name":
            return env[expr[1]]
        if kind == "neg":
            return -ev(expr[1])
        if kind in ("add", "sub", "mul", "div", "pow"):
            a, b = ev(expr[1]), ev(expr[2])
            a = a.double() if a.dtype == torch.long else a
            b = b.double() if b.dtype == torch.long else b
            return {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
                    "pow": torch.pow}[kind](a, b)
        if kind == "matmul":
            return ev(expr[1]) @ ev(expr[2])
        if kind == "T":
            x = ev(expr[1])
            return x.T if x.ndim == 2 else x
        if kind == "cmp":
            a, b = ev(expr[2]), ev(expr[3])
            op = {"<": torch.lt, "<=": torch.le, ">": torch.gt, ">=": torch.ge, "==": torch.eq,
                  "!=": torch.ne}[expr[1]]
            return op(a.detach(), b.detach() if torch.is_tensor(b) else b).double()
        if kind == "call":
            x = ev(expr[2])
            return {"exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "tanh": torch.tanh,
                    "sigmoid": torch.sigmoid, "relu": torch.relu, "sin": torch.sin,
                    "cos": torch.cos, "abs": torch.abs}[expr[1]](x)
        if kind == "index":
            base = ev(expr[1])
            key = []
            for part in expr[2]:
                if part[0] == "slice":
                    key.append(slice(*part[1:]))
                else:
                    key.append(ev(part[1]).long())
            return base[tuple(key)]
        if kind == "fn":
            return fn(expr[1], expr[2], dict(expr[3]))
        raise AssertionError(kind)

    def fn(name: str, args: tuple, kw: dict) -> Any:
        if name == "arange":
            bounds = [int(ev(a)) for a in args]
            return torch.arange(*bounds)
        if name == "one_hot":
            return F.one_hot(ev(args[0]).long(), int(ev(args[1]))).double()
        if name == "concat":
            return torch.cat([ev(e) for e in args[0][1]], dim=kw.get("axis", 0))
        if name == "where":
            c, x, y = (ev(a) for a in args)
            x = x if torch.is_tensor(x) else torch.tensor(x, dtype=torch.float64)
            return torch.where(c != 0, x.double(), y.double())
        x = ev(args[0])
        if x.dtype == torch.long:
            x = x.double()
        axis = kw.get("axis")
        keep = kw.get("keepdims", False)
        if name == "sum":
            return x.sum() if axis is None and not keep else x.sum(
                dim=axis if axis is not None else tuple(range(x.ndim)), keepdim=keep)
        if name == "mean":
            return x.mean() if axis is None and not keep else x.mean(
                dim=axis if axis is not None else tuple(range(x.ndim)), keepdim=keep)
        if name in ("max", "min"):
            if axis is None:  # PyTorch's own full reduction (ties share the gradient)
                out = x.max() if name == "max" else x.min()
                return out.reshape((1,) * x.ndim) if keep else out
            result = x.max(dim=axis, keepdim=keep) if name == "max" else x.min(dim=axis,
                                                                               keepdim=keep)
            return result.values
        if name == "var":
            ddof = kw.get("ddof", 0)
            return torch.var(x, dim=axis, correction=ddof, keepdim=keep)
        if name == "softmax":
            return torch.softmax(x, dim=kw.get("axis", -1))
        if name == "log_softmax":
            return torch.log_softmax(x, dim=kw.get("axis", -1))
        if name == "reshape":
            return x.reshape(args[1][1])
        if name == "transpose":
            return x.T
        if name == "matmul":
            return x @ ev(args[1])
        if name == "conv2d":
            k = ev(args[1])
            out = F.conv2d(x[None, None], k[None, None], stride=kw.get("stride", 1),
                           padding=kw.get("padding", 0))
            return out[0, 0]
        if name == "maxpool2d":
            size = kw.get("size", 2)
            return F.max_pool2d(x[None, None], size)[0, 0]
        raise AssertionError(name)

    for step in problem.steps:
        value = ev(step.expr)
        if not torch.is_tensor(value):
            value = torch.tensor(value, dtype=torch.float64)
        if value.dtype != torch.float64:
            value = value.double()
        if value.requires_grad:
            value.retain_grad()
        env[step.name] = value
    out = env[problem.output]
    out.reshape(()).backward()
    result: dict[str, np.ndarray] = {}
    grad_prefix = f"d{problem.output}/d"
    for name, tensor in env.items():
        result[name] = tensor.detach().double().numpy()
        if tensor.requires_grad:
            grad = tensor.grad
            result[grad_prefix + name] = (np.zeros(tuple(tensor.shape)) if grad is None
                                          else grad.numpy())
    return result
