"""The ``dwr-larq`` command line."""

from __future__ import annotations

import json
import sys

import click

from dwr_larq import zoo
from dwr_larq.atomic import check_output_path
from dwr_larq.cli.common import POSITIVE_INT, UNSAFE_OPTION, CommandGroup, quiet_tensorflow
from dwr_larq.formatting import format_count


def _card(name: str):
    return zoo.get_card(name)


def _build(card, input_size: int | None):
    size = input_size or card.spec.input_size
    return zoo.build_from_card(card, input_shape=(size, size, 3))


@click.group(cls=CommandGroup)
@click.version_option(package_name="dwr-larq")
def main():
    """Fast and accurate binary neural networks with Depth-Width Reshaping (DWR)."""


@main.command("list")
@click.argument("pattern", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the cards as JSON.")
def list_command(pattern, as_json):
    """List zoo models, optionally those matching a shell PATTERN such as '*DWR'."""
    cards = [zoo.get_card(name) for name in zoo.list_models(pattern)]
    if as_json:
        click.echo(json.dumps([card.to_dict() for card in cards], indent=2))
        return
    click.echo(f"{'name':<18} {'dataset':<9} {'block':<9} {'depths':<16} widths")
    for card in cards:
        spec = card.spec
        click.echo(f"{card.name:<18} {card.dataset:<9} {spec.block:<9} {str(list(spec.depths)):<16} {list(spec.widths)}")


@main.command()
@click.argument("name")
@click.option("--input-size", type=POSITIVE_INT, help="Square input side (default: the model's).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--layers", is_flag=True, help="Also print Larq's per-layer profile and the ARM estimate of every op.")
@click.option("--arm/--no-arm", default=True, show_default=True,
              help="Convert with LCE and estimate ARM instructions (the slow part: seconds per model).")
def summary(name, input_size, as_json, layers, arm):
    """Cost figures of a zoo model (or a card file): MACs, OPs, params, size, activations
    and the ARM estimate (aarch64 instructions per inference of LCE 0.16's kernels on an
    emulated Cortex-A72: a proxy for Raspberry Pi latency that ignores caches)."""
    quiet_tensorflow()
    from dwr_larq.models import costs

    card = _card(name)
    model = _build(card, input_size)
    figures = costs.measure(model).to_dict()
    estimate = None
    if arm:
        from dwr_larq.deploy import arm_cost

        estimate = arm_cost.estimate_keras(model)
        figures.update(estimate.to_dict(per_op=layers))
    if as_json:
        click.echo(json.dumps({"name": card.name, **figures}, indent=2))
        return
    if layers:
        import larq as lq

        lq.models.summary(model, print_fn=click.echo)
        if estimate:
            _echo_arm_ops(estimate)
    shape = figures["input_shape"]
    click.echo(f"{card.name} at {shape[0]}x{shape[1]}x{shape[2]}")
    for key, value in figures.items():
        if key in ("input_shape", "arm_by_op_type", "arm_ops", "arm_complete") or (key == "arm_unestimated_ops" and not value):
            continue
        shown = ", ".join(value) if isinstance(value, list) else format_count(value, ".2f")
        click.echo(f"  {key:<22} {shown:>10}")
    if estimate:
        from dwr_larq.deploy.arm_cost import DESCRIPTION

        click.echo(f"  (arm_instructions: {DESCRIPTION}{'' if estimate.complete else '; unestimated ops not counted'})")


def _echo_arm_ops(estimate) -> None:
    """Where the ARM estimate goes: by op type (largest first, with a bar of its share),
    then every op in execution order with its share and the running total's."""
    total = estimate.instructions
    click.echo(f"ARM estimate by op type ({format_count(total, '.3g')} instructions"
               f"{'' if estimate.complete else ', unestimated ops not counted'}):")
    for name, row in estimate.by_op_type().items():
        value = "unestimated" if row["arm_instructions"] is None else format_count(row["arm_instructions"], ".3g")
        share = row["share"]
        shown = "" if share is None else f"{share:>6.1%}  {'#' * round(share * 40)}"
        click.echo(f"  {name:<18} x{row['count']:<4} {value:>11}  {shown}")
    click.echo(f"{'#':>4}  {'op':<18} {'output':<20} {'ARM instr.':>12} {'share':>7} {'cumul.':>7}")
    running = 0.0
    for op in estimate.ops:
        value = "unestimated" if op.instructions is None else format_count(op.instructions, ".2f")
        share = cumulative = ""
        if op.instructions is not None and estimate.complete:
            running += op.instructions
            share, cumulative = f"{op.instructions / total:.1%}", f"{running / total:.1%}"
        click.echo(f"{op.index:>4}  {op.op:<18} {str(op.output_shape):<20} {value:>12} {share:>7} {cumulative:>7}")


def _model_to_convert(name: str, input_size: int | None):
    """(label, Keras model) for a zoo name, a card file, a trained run folder or a saved model."""
    import os

    if os.path.isdir(name) or name.endswith((".keras", ".h5")):
        if input_size:
            raise click.ClickException("--input-size applies to zoo models and cards; a saved model keeps its input shape")
        from dwr_larq.training.evaluate import load_keras

        return name, load_keras(name)
    card = _card(name)
    return card.name, _build(card, input_size)


@main.command()
@click.argument("name")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The .tflite file to write.")
@click.option("--input-size", type=POSITIVE_INT, help="Square input side (default: the model's).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@UNSAFE_OPTION
def convert(name, output, input_size, as_json):
    """Convert a zoo model, a card file, a trained run folder or a saved .keras model
    to an LCE .tflite flatbuffer."""
    quiet_tensorflow()
    from dwr_larq.deploy import convert as convert_lib
    from dwr_larq.models import costs

    check_output_path(output)
    label, model = _model_to_convert(name, input_size)
    report = convert_lib.convert(model, output)
    expected = len(costs.binary_conv_layers(model))
    if as_json:
        click.echo(json.dumps({"name": label, **report.to_dict(), "keras_binary_convs": expected}, indent=2))
    else:
        click.echo(f"wrote {report.path} ({report.size_bytes / 1024:.1f} KiB) in {report.seconds:.1f}s")
        click.echo(f"  {report.binary_convs} LceBconv2d ops for {expected} binary convs in Keras")
        click.echo("  ops: " + ", ".join(f"{op} x{count}" for op, count in report.op_counts.items()))
    if report.binary_convs != expected:
        click.echo(f"warning: {expected - report.binary_convs} binary conv(s) did not become LceBconv2d", err=True)
        sys.exit(1)


from dwr_larq.cli.reshape import reshape_command  # noqa: E402

main.add_command(reshape_command)

from dwr_larq.cli.benchmark import benchmark as benchmark_command  # noqa: E402

main.add_command(benchmark_command)

from dwr_larq.cli.train import data_bench_command, evaluate_command, train_command  # noqa: E402

main.add_command(train_command)
main.add_command(evaluate_command)
main.add_command(data_bench_command)

from dwr_larq.cli.quickstart import quickstart_command  # noqa: E402

main.add_command(quickstart_command)

from dwr_larq.cli.weights import export_weights_command, finetune_command  # noqa: E402

main.add_command(export_weights_command)
main.add_command(finetune_command)

if __name__ == "__main__":
    main()
