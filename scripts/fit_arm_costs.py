"""Fit the ARM cost model (``dwr_larq/deploy/arm_cost_model.json``) to measured op counts.

    python scripts/fit_arm_costs.py --measurements ../shared/arm-costs/v2            # refit, write the JSON
    python scripts/fit_arm_costs.py --measurements ../shared/arm-costs/v2 --dry-run  # print the errors only

The measurements are a folder as ``shared/arm-costs/v2`` lays it out: ``ops.jsonl`` (one
line per op instance: op, shapes, types, options, measured instructions) and
``results.tsv`` (each model's measured total). The features of each op are the ones the
estimate itself computes (``arm_cost.op_features``), so a fit and the estimate cannot drift
apart. Per op type, every candidate form (the op's core features plus any subset of its
optional ones, with or without an intercept) is fitted by least squares of the relative
error (row weights 1/y); the form kept has the lowest mean |relative error| over the op's
instances, and a form with more terms must beat a smaller one by more than 3% of that
error. A form never has more parameters than the op has distinct feature rows.

The errors reported per model are in-sample (all models fitted) and leave-one-model-out
(each op type's chosen form refitted without the model, then the model predicted). An op
type only the held-out model has is priced by its in-sample fit there, and listed.
"""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import click
import numpy as np

from dwr_larq.deploy import arm_cost

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MEASUREMENTS = REPO.parent / "shared" / "arm-costs" / "v2"
MORE_TERMS_MUST_GAIN = 0.03

ELEMENTWISE = ((), ("out_px", "quads_px", "tail_px", "ragged_px"))
# op type -> (core features, optional features); each candidate's features are the core plus a subset of the optional.
FORMS = {
    "LceBconv2d": (("mac32_tiled_depth4", "rhs_words_depth4", "tiles"),
                   ("out_el", "out_px", "in_words", "packed_out_el", "zero_pad_el")),
    "CONV_2D": (("macs_tiled8",), ("rhs_el", "im2col", "im2col_px", "out_el", "weights", "in_el")),
    "DEPTHWISE_CONV_2D": (("macs",), ("out_el", "out_px", "k1_el", "k1_px")),
    "FULLY_CONNECTED": (("macs",), ("in_el", "out_el")),
    "LceQuantize": (("q_blocks", "q_words", "q_pad", "q_fill"), ()),
    "AVERAGE_POOL_2D": (("win_el",), ("win_px", "out_px", "out_el")),
    "MAX_POOL_2D": (("win_el",), ("win_px", "out_px", "out_el")),
    "LceBMaxPool2d": (("win_px",), ()),
    "CONCATENATION": (("out_el",), ("rows",)),
    "STRIDED_SLICE": (("out_el",), ("rows",)),
    "PAD": (("out_el",), ("in_el", "out_px")),
    "SOFTMAX": (("in_el",), ()),
    "MEAN": (("in_el",), ()),
    "RESHAPE": ((), ()),
}
FEATURE_SETS = {"el": ELEMENTWISE, "in_el": ELEMENTWISE, "out_el": ELEMENTWISE}


def load(folder: Path):
    """(op records with their features, {model: measured total}) of a measurement folder."""
    if not (folder / "ops.jsonl").is_file() or not (folder / "results.tsv").is_file():
        raise click.ClickException(f"{folder}: no ops.jsonl and results.tsv there (pass --measurements)")
    records = [json.loads(line) for line in (folder / "ops.jsonl").read_text().splitlines() if line.strip()]
    for record in records:
        record["features"] = arm_cost.op_features(arm_cost.measured_operator(record))
    rows = csv.DictReader((folder / "results.tsv").read_text().splitlines(), delimiter="\t")
    totals = {row["model"]: {"group": row["group"], "input_shape": row["input_shape"],
                             "measured": float(row["instructions_per_inference"])} for row in rows}
    return records, totals


def candidates(op: str):
    """Every (features, intercept) form tried for ``op``: elementwise ops without a listed
    form get a per-element core (in, out or both) plus the per-pixel channel-step terms."""
    if op in FORMS:
        choices = [FORMS[op]]
    else:
        choices = [((core,), ELEMENTWISE[1]) for core in FEATURE_SETS]
    for core, optional in choices:
        for size in range(len(optional) + 1):
            for extra in itertools.combinations(optional, size):
                for intercept in (True, False):
                    if core or extra or intercept:
                        yield core + extra, intercept


def design(rows, features, intercept) -> np.ndarray:
    return np.array([[r["features"][f] for f in features] + ([1.0] if intercept else []) for r in rows], dtype=float)


def fit_form(rows, features, intercept) -> dict:
    """Weighted least squares of one form: {feature: coef, "const": intercept}."""
    y = np.array([r["instructions"] for r in rows], dtype=float)
    weights = 1 / np.maximum(y, 1.0)  # least squares of the relative error
    solution, *_ = np.linalg.lstsq(design(rows, features, intercept) * weights[:, None], y * weights, rcond=None)
    coef = dict(zip(features, solution.tolist()))
    coef["const"] = float(solution[-1]) if intercept else 0.0
    return coef


def predict(model: dict, features: dict) -> float:
    """The same sum the estimate makes (``arm_cost.op_instructions``), clipped at zero."""
    coef = model["coef"]
    return max(0.0, coef["const"] + sum(coef[f] * features[f] for f in model["features"]))


def weighted_error(model: dict, rows) -> float:
    y = np.array([r["instructions"] for r in rows], dtype=float)
    pred = np.array([predict(model, r["features"]) for r in rows])
    return float(np.abs(pred - y).sum() / y.sum())


def mean_relative_error(model: dict, rows) -> float:
    """What a form is chosen by: every op instance counts alike, so the many small ops of
    the CIFAR models weigh as much as the few large ones of the ImageNet models."""
    return float(np.mean([abs(predict(model, r["features"]) / r["instructions"] - 1) for r in rows]))


def choose(op: str, rows) -> dict:
    """The op type's form with the lowest mean relative error; more terms must gain more than 3% of it."""
    distinct = len({tuple(sorted(r["features"].items())) for r in rows})
    best = None
    for features, intercept in candidates(op):
        terms = len(features) + intercept
        if terms > distinct:
            continue
        model = {"features": list(features), "intercept": intercept, "coef": fit_form(rows, features, intercept)}
        model["mean_abs_rel_err"] = mean_relative_error(model, rows)
        if best is None or model["mean_abs_rel_err"] < best["mean_abs_rel_err"] * (
                1 - MORE_TERMS_MUST_GAIN if terms > len(best["features"]) + best["intercept"] else 1):
            best = model
    rel = [abs(predict(best, r["features"]) / r["instructions"] - 1) for r in rows]
    best["weighted_abs_rel_err"] = weighted_error(best, rows)
    return {**best, "formula": " + ".join(best["features"] + (["1"] if best["intercept"] else [])), "n": len(rows),
            "distinct": distinct, "median_abs_rel_err": float(np.median(rel)), "max_abs_rel_err": float(max(rel))}


def fit_all(records) -> dict:
    ops = sorted({r["op"] for r in records})
    return {op: choose(op, [r for r in records if r["op"] == op]) for op in ops}


def model_totals(records, op_models) -> dict:
    totals = {}
    for r in records:
        totals[r["model"]] = totals.get(r["model"], 0.0) + predict(op_models[r["op"]], r["features"])
    return totals


def leave_one_model_out(records, op_models, model: str):
    """(predicted total of ``model`` with every op type refitted without it, op types only it has)."""
    kept = [r for r in records if r["model"] != model]
    unseen, total = [], 0.0
    refits = {}
    for r in (r for r in records if r["model"] == model):
        op = r["op"]
        if op not in refits:
            rows = [k for k in kept if k["op"] == op]
            chosen = op_models[op]
            distinct = len({tuple(sorted(k["features"].items())) for k in rows})
            if distinct < len(chosen["features"]) + chosen["intercept"]:
                unseen.append(op)
                refits[op] = chosen
            else:
                refits[op] = {**chosen, "coef": fit_form(rows, chosen["features"], chosen["intercept"])}
        total += predict(refits[op], r["features"])
    return total, unseen


def errors(records, totals, op_models) -> dict:
    """Per model: measured, in-sample and leave-one-model-out predictions and relative errors."""
    in_sample = model_totals(records, op_models)
    out = {}
    for model, row in totals.items():
        lomo, unseen = leave_one_model_out(records, op_models, model)
        out[model] = {**row, "predicted": round(in_sample[model]), "rel_err": in_sample[model] / row["measured"] - 1,
                      "lomo_predicted": round(lomo), "lomo_rel_err": lomo / row["measured"] - 1,
                      "lomo_unseen_ops": unseen}
    return out


def summarise(per_model: dict, groups) -> dict:
    chosen = [m for m in per_model.values() if m["group"] in groups]
    summary = {}
    for key in ("rel_err", "lomo_rel_err"):
        values = [abs(m[key]) for m in chosen]
        summary[f"{key.replace('rel_err', '')}mean_abs_rel_err".lstrip("_")] = float(np.mean(values))
        summary[f"{key.replace('rel_err', '')}max_abs_rel_err".lstrip("_")] = float(np.max(values))
    summary["models"] = len(chosen)
    return summary


@click.command()
@click.option("--measurements", type=click.Path(path_type=Path), default=DEFAULT_MEASUREMENTS, show_default=True,
              help="Folder with ops.jsonl and results.tsv.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=Path(arm_cost.MODEL_FILE), show_default=True)
@click.option("--dry-run", is_flag=True, help="Print the errors; write nothing.")
def main(measurements, out, dry_run):
    from dwr_larq.atomic import write_atomically
    from dwr_larq.formatting import text_table

    records, totals = load(measurements)
    op_models = fit_all(records)
    per_model = errors(records, totals, op_models)
    for op, model in op_models.items():
        click.echo(f"{op:<18} n={model['n']:<4} {model['formula']:<60} mean err {model['mean_abs_rel_err']:.4f}"
                   f"  weighted {model['weighted_abs_rel_err']:.4f}  max {model['max_abs_rel_err']:.3f}")
    rows = [[model, f"{row['measured']:.0f}", f"{row['rel_err']:+.4f}", f"{row['lomo_rel_err']:+.4f}",
             f"(lomo: {', '.join(row['lomo_unseen_ops'])} only here, priced in-sample)" if row["lomo_unseen_ops"] else ""]
            for model, row in sorted(per_model.items(), key=lambda kv: -abs(kv[1]["rel_err"]))]
    click.echo(text_table(["model", "measured", "in-sample", "lomo", ""], rows))
    checked = ("zoo", "fmnist", "pad")
    summary = summarise(per_model, checked)
    click.echo(f"groups {', '.join(checked)}: " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                                          for k, v in summary.items()))
    if dry_run:
        return
    document = {
        "source": f"fitted by scripts/fit_arm_costs.py to {measurements.name}/ops.jsonl of shared/arm-costs "
                  f"({len(records)} op instances of {len(totals)} models)",
        "units": "guest (aarch64) instructions per inference, emulated Cortex-A72, LCE 0.16 kernels, 1 thread, "
                 "bgemm binary-conv kernel, TF-2.16-era STRIDED_SLICE kernel",
        "fit_method": __doc__.split("\n\n")[2].replace("\n", " "),
        "fit_summary": {"groups": list(checked), **summary, "all_models": summarise(per_model, {m["group"] for m in per_model.values()})},
        "features": "defined by dwr_larq.deploy.arm_cost.op_features (its docstrings say what each counts)",
        "op_models": op_models,
        "per_model": per_model,
    }
    write_atomically(out, json.dumps(document, indent=1) + "\n")
    click.echo(f"wrote {out}")


if __name__ == "__main__":
    main()
