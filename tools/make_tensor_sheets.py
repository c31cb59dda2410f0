"""Write answer sheets for the tensor problems from PyTorch's numbers (not backcheck's).

``python tools/make_tensor_sheets.py`` rewrites problems/sheets/<problem>/*.yaml: a right
sheet (every value and gradient, rounded to 4 decimals, as a careful student writes
them) and sheets with one slip each, the slipped numbers computed from PyTorch's by the
slip's own (wrong) rule.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backcheck.problem import load_problem  # noqa: E402
from tests.torch_steps import run_torch  # noqa: E402

DECIMALS = 4


def rounded(value: Any) -> Any:
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        text = f"{float(array):.{DECIMALS}f}"
        return float(text) if "." in text else int(text)
    return [rounded(v) for v in array]


def text(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(text(v) for v in value) + "]"
    number = f"{value:.{DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if number in ("-0", "") else number


def write(problem: str, sheet: str, comment: str, answers: dict[str, Any],
          names: list[str] | None = None) -> None:
    folder = ROOT / "problems" / "sheets" / problem
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"# {comment}", f"problem: ../../{problem}.yaml", f"student: {sheet}", "answers:"]
    for name in names or list(answers):
        lines.append(f"  {name}: {text(rounded(answers[name]))}")
    (folder / f"{sheet}.yaml").write_text("\n".join(lines) + "\n")


def reference(problem: str, replace: tuple[str, str] | None = None) -> tuple[Any, dict]:
    path = ROOT / "problems" / f"{problem}.yaml"
    if replace is not None:
        source = path.read_text().replace(*replace)
        assert source != path.read_text(), replace
        tmp = ROOT / "problems" / f".{problem}.slip.yaml"
        tmp.write_text(source)
        try:
            loaded = load_problem(str(tmp))
        finally:
            tmp.unlink()
    else:
        loaded = load_problem(str(path))
    return loaded, run_torch(loaded)


def answered(loaded: Any, ref: dict, skip_given: bool = True) -> dict[str, Any]:
    """Every step's value and every gradient (the given values are not answers)."""
    out = {}
    steps = [s.name for s in loaded.steps]
    grad = f"d{loaded.output}/d"
    for name in steps:
        out[name] = ref[name]
    for name in list(loaded.values) + steps[::-1]:
        if grad + name in ref and name != loaded.output:
            out[grad + name] = ref[grad + name]
    return out


def main() -> None:
    # ---- backprop ninja, hand-sized
    p, ref = reference("backprop_ninja_small")
    right = answered(p, ref)
    write("backprop_ninja_small", "right", "Backprop ninja, every value and gradient to 4 "
          "decimals: all right.", right)
    _, slip = reference("backprop_ninja_small", ("1/(4-1) * bndiff2", "1/4 * bndiff2"))
    write("backprop_ninja_small", "variance_n", "bnvar with 1/n instead of Bessel's 1/(n-1); "
          "everything after it carried forward.", {**right, **answered(p, slip)},
          names=list(right))
    g = ref["dloss/demb"]
    overwritten = np.zeros_like(ref["C"])
    xb = ref["Xb"].astype(int)
    overwritten[xb] = g  # dC[Xb] = demb: a repeated row keeps the last write
    write("backprop_ninja_small", "repeated_index", "dC[Xb] = demb instead of accumulating "
          "over the repeated rows.", {**right, "dloss/dC": overwritten}, names=list(right))
    counts, dprobs = ref["counts"], ref["dloss/dprobs"]
    direct = counts * ref["counts_sum_inv"] * dprobs  # through probs only, not counts_sum
    write("backprop_ninja_small", "stability_max", "The max subtracted for stability given a "
          "gradient (from the direct path through probs only).",
          {**right, "dloss/dlogit_maxes": -direct.sum(axis=1, keepdims=True)},
          names=list(right))
    write("backprop_ninja_small", "broadcast_not_summed", "dbnbias taken from the first row "
          "of dhpreact instead of summing over the batch.",
          {**right, "dloss/dbnbias": ref["dloss/dhpreact"][0:1]}, names=list(right))

    # ---- backprop ninja at the lecture's size: a few quantities
    p, ref = reference("backprop_ninja_lecture")
    picks = {"loss": ref["loss"], "bnvar": ref["bnvar"][:, :4].ravel()}
    lines = ["# Backprop ninja at the lecture's size: a few quantities, all right.",
             "problem: ../../backprop_ninja_lecture.yaml", "student: right", "answers:",
             f"  loss: {text(rounded(picks['loss']))}"]
    for j in range(4):
        lines.append(f"  bnvar[1,{j + 1}]: {text(rounded(ref['bnvar'][0, j]))}")
        lines.append(f"  dloss/dW2[1,{j + 1}]: {text(rounded(ref['dloss/dW2'][0, j]))}")
        lines.append(f"  dloss/dC[1,{j + 1}]: {text(rounded(ref['dloss/dC'][0, j]))}")
    folder = ROOT / "problems" / "sheets" / "backprop_ninja_lecture"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "right.yaml").write_text("\n".join(lines) + "\n")
    _, slip = reference("backprop_ninja_lecture", ("1/(32-1) * bndiff2", "1/32 * bndiff2"))
    bad = [line for line in lines if not line.startswith("  bnvar[")]
    bad[0] = "# Backprop ninja at the lecture's size: bnvar with 1/n instead of 1/(n-1)."
    bad[2] = "student: variance_n"
    for j in range(4):
        value = float(f"{slip['bnvar'][0, j]:.6g}")
        bad.append(f"  bnvar[1,{j + 1}]: {value!r}")
    (folder / "variance_n.yaml").write_text("\n".join(bad) + "\n")

    # ---- batch norm
    p, ref = reference("batch_norm")
    right = answered(p, ref)
    write("batch_norm", "right", "Batch norm forward and backward, 4 decimals: all right.",
          right)
    _, slip = reference("batch_norm", ("v = var(x, axis=0)", "v = var(x, axis=0, ddof=1)"))
    write("batch_norm", "variance_n_minus_1", "The variance with n - 1 (ddof=1) where "
          "batch norm uses n; everything after it carried forward.",
          {**right, **answered(p, slip)}, names=list(right))
    write("batch_norm", "broadcast_mean", "dbeta as the mean of dout over the batch instead "
          "of the sum.", {**right, "dL/dbeta": ref["dL/dout"].mean(axis=0)}, names=list(right))

    # ---- layer norm
    p, ref = reference("layer_norm")
    right = answered(p, ref)
    write("layer_norm", "right", "Layer norm forward and backward, 4 decimals: all right.",
          right)
    write("layer_norm", "broadcast_first_row", "dgamma from the first example only (not "
          "summed over the batch).", {**right, "dL/dgamma": ref["dL/dy"][0] * ref["xhat"][0]},
          names=list(right))

    # ---- attention
    p, ref = reference("attention_head")
    right = answered(p, ref)
    write("attention_head", "right", "One self-attention head, 4 decimals: all right.", right)
    write("attention_head", "matmul_not_transposed", "dV = P @ dO instead of P.T @ dO.",
          {**right, "dL/dV": ref["P"] @ ref["dL/dO"]}, names=list(right))
    write("attention_head", "transposed", "dL/dS written transposed.",
          {**right, "dL/dS": ref["dL/dS"].T}, names=list(right))

    # ---- RNN
    p, ref = reference("rnn_two_steps")
    right = answered(p, ref)
    write("rnn_two_steps", "right", "Two RNN steps, backpropagation through time, 4 "
          "decimals: all right.", right)
    only_last = np.outer(ref["h1"], ref["dL/da2"])  # dWhh from step 2 only
    write("rnn_two_steps", "bptt_one_step", "dWhh from the last time step only (the path "
          "through step 1 forgotten).", {**right, "dL/dWhh": only_last}, names=list(right))

    # ---- convolution and pooling
    p, ref = reference("conv_pool")
    right = answered(p, ref)
    write("conv_pool", "right", "3×3 convolution, ReLU, 2×2 max-pooling: all right.", right)
    write("conv_pool", "relu_mask_dropped", "dY = dR: the ReLU's mask dropped.",
          {**right, "dL/dY": ref["dL/dR"]}, names=list(right))

    # ---- dropout
    p, ref = reference("dropout")
    right = answered(p, ref)
    write("dropout", "right", "Inverted dropout with a given mask: all right.", right)
    write("dropout", "mask_dropped", "dh without the dropout mask (only the 1/(1-p) scale).",
          {**right, "dL/dh": ref["dL/dhd"] / (1 - 0.5)}, names=list(right))

    # ---- residual block
    p, ref = reference("residual_block")
    right = answered(p, ref)
    write("residual_block", "right", "A residual block: all right.", right)
    skip = ref["dL/dz"] @ ref["W1"].T  # the skip connection's gradient forgotten
    write("residual_block", "skip_forgotten", "dx through the block only: the identity "
          "path's dL/dy forgotten.", {**right, "dL/dx": skip}, names=list(right))

    # ---- SVM
    p, ref = reference("svm_loss")
    right = answered(p, ref)
    write("svm_loss", "right", "Multiclass SVM loss: all right.", right)
    s = ref["scores"] - ref["correct"] + 1
    unmasked = (s > 0) / 3.0  # the correct class's own margin (always 1) not masked out
    write("svm_loss", "correct_class_not_masked", "dL/dcorrect without the (1 - one_hot) "
          "mask: the correct class's own margin counted.",
          {**right, "dL/dcorrect": -unmasked.sum(axis=1, keepdims=True)}, names=list(right))

if __name__ == "__main__":
    main()
