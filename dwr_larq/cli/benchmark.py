"""``dwr-larq benchmark``: the command-line face of ``dwr_larq.deploy.benchmark``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dwr_larq.cli.common import POSITIVE_INT, quiet_tensorflow

from dwr_larq.deploy import arm_cost, report
from dwr_larq.deploy.benchmark import BenchmarkError, DeviceError, Failure, LocalTimer, Plan, default_cache_dir, parse_threads, resolve_all
from dwr_larq.deploy.timing import BCONV_KERNELS


def _check_outputs(paths) -> None:
    from dwr_larq.atomic import check_output_path

    for path in paths:
        if path:
            check_output_path(path)


def _timer(remote, binary, remote_dir, kernel):
    if remote:
        from dwr_larq.deploy.remote import RemoteTimer

        return RemoteTimer(remote, binary, remote_dir, kernel=kernel)
    return LocalTimer(kernel)


class Outputs:
    """The files asked for, rewritten after every row so an interrupted run keeps what it measured."""

    def __init__(self, json_path, csv_path, markdown_path, plot_path, reference, meta):
        self.json_path, self.csv_path, self.markdown_path, self.plot_path = json_path, csv_path, markdown_path, plot_path
        self.reference, self.meta = reference, meta
        self.rows, self.failures = {}, []

    def add(self, result) -> None:
        if isinstance(result, Failure):
            self.failures.append({"item": result.item, "threads": result.threads, "message": result.message})
        else:
            self.rows[(result.model, result.threads)] = result.to_dict()
        self.write(final=False)

    def row_list(self) -> list:
        return report.with_ratios(list(self.rows.values()), self.reference)

    def write(self, final: bool) -> None:
        rows = self.row_list()
        loads = [r["load_average"] for r in rows if r.get("load_average") is not None]
        if loads:
            self.meta["load_average"] = f"{min(loads):.2f}-{max(loads):.2f}"
        if self.json_path:
            report.write_json(self.json_path, rows, self.failures, self.meta)
        if self.csv_path:
            report.write_csv(self.csv_path, rows)
        if self.markdown_path:
            report.write_markdown(self.markdown_path, rows, self.meta)
        if final and self.plot_path and rows:
            report.plot(self.plot_path, rows, title=report.describe(self.meta))


@click.command("benchmark")
@click.argument("items", nargs=-1)
@click.option("--input-size", type=POSITIVE_INT, help="Square input side for zoo and larq-zoo models (default: the model's).")
@click.option("--threads", "threads_text", default="1", show_default=True, help="Comma-separated thread counts, e.g. 1,2.")
@click.option("--runs", type=POSITIVE_INT, default=20, show_default=True, help="Timed runs per model and thread count.")
@click.option("--warmup", type=POSITIVE_INT, default=3, show_default=True, help="Untimed runs first (the first one allocates).")
@click.option("--rounds", type=POSITIVE_INT, default=1, show_default=True,
              help="Time every model this many times in turn and pool the runs (evens out a drifting load).")
@click.option("--kernel", type=click.Choice(sorted(BCONV_KERNELS)), default="bgemm", show_default=True,
              help="LCE's bconv kernel (bgemm is LCE's default; passed to lce_benchmark_model as --use_indirect_bgemm or --use_reference_bconv).")
@click.option("--reference", help="Model whose median latency the others are divided by (the 'x ref' column).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write rows, failures and settings as JSON.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Write the rows as CSV.")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False), help="Write a Markdown table.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="Plot latency against binary MACs and activations (PNG).")
@click.option("--cache-dir", type=click.Path(file_okay=False), help=f"Where converted models are kept [default: {default_cache_dir()}].")
@click.option("--remote", help="USER@HOST: time on this device with lce_benchmark_model over ssh.")
@click.option("--lce-benchmark-binary", default="lce_benchmark_model", show_default=True, help="The benchmark binary's path on the device.")
@click.option("--remote-dir", default="/tmp/dwr-larq-benchmark", show_default=True, help="Where flatbuffers are copied on the device.")
def benchmark(items, input_size, threads_text, runs, warmup, rounds, kernel, reference, json_path, csv_path, markdown_path,
              plot_path, cache_dir, remote, lce_benchmark_binary, remote_dir):
    """Latency, peak memory, size, binary MACs, activations and the ARM estimate of ITEMS side by side.

    ITEMS are zoo names (or card .json files), larq-zoo baselines (lqz:QuickNet,
    lqz:QuickNetSmall, lqz:BiRealNet, lqz:BinaryResNetE18; random weights) and
    .tflite files. Keras models are converted with LCE once per input size and cached.
    """
    quiet_tensorflow()
    threads = parse_threads(threads_text)
    sources = resolve_all(items)
    timer = _timer(remote, lce_benchmark_binary, remote_dir, kernel)
    if rounds > 1 and not timer.supports_rounds:
        raise click.ClickException("--rounds needs per-run times, which lce_benchmark_model does not print; use --runs")
    if reference and reference not in [s.name for s in sources]:
        raise click.ClickException(f"--reference {reference!r} is not one of the models benchmarked: {', '.join(s.name for s in sources)}")
    _check_outputs([json_path, csv_path, markdown_path, plot_path])

    meta = {**report.host_meta(), "device": timer.device, "kernel": timer.kernel, "runs": runs, "warmup": warmup,
            "rounds": rounds, "threads": list(threads), "input_size": input_size, "reference": reference,
            "items": list(items), "arm_estimate": arm_cost.DESCRIPTION}
    outputs = Outputs(json_path, csv_path, markdown_path, plot_path, reference, meta)
    plan = Plan(sources, threads, runs, warmup, rounds, input_size, Path(cache_dir) if cache_dir else default_cache_dir())

    from dwr_larq.deploy.benchmark import run

    status = 0
    try:
        for result in run(plan, timer, log=lambda message: click.echo(message, err=True)):
            if isinstance(result, Failure):
                click.echo(f"error: {result.message}", err=True)
            outputs.add(result)
    except DeviceError as error:
        click.echo(f"error: {error}", err=True)
        status = 1
    except KeyboardInterrupt:
        click.echo(f"interrupted: keeping the {len(outputs.rows)} row(s) measured so far", err=True)
        status = 130
    outputs.write(final=True)
    rows = outputs.row_list()
    if rows:
        click.echo(report.text_table(rows))
        click.echo(report.describe(meta))
    if outputs.failures:
        click.echo(f"{len(outputs.failures)} item(s) failed; the rows above are the ones that finished", err=True)
        status = status or 1
    sys.exit(status)
