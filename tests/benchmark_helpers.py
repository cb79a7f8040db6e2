"""Shared pieces of the benchmark tests: a tiny card and fake ssh/scp that act on a local folder."""

import json
import os
import stat
import textwrap
from pathlib import Path

from conftest import tiny_card

DATA = Path(__file__).parent / "data"
RECORDED = DATA / "lce_benchmark_model_rpi4_resnet18dwr_t1.txt"

# A one-stage ReActNet backbone at 8x8: converts in about two seconds.
TINY_CARD = tiny_card(
    "TinyReAct",
    "A one-block backbone for benchmark tests.",
    block="reactnet",
    widths=[32, 64],
    stem={"width": 32, "kernel_size": 3, "strides": 1, "max_pool": False},
    head={"num_classes": 10, "dropout": 0.0},
    input_size=8,
)


def write_tiny_card(folder: Path, name: str = "TinyReAct") -> Path:
    path = folder / f"{name.lower()}.json"
    path.write_text(json.dumps({**TINY_CARD, "name": name}))
    return path


def _executable(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip())
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def fake_device(tmp_path: Path, monkeypatch, with_binary: bool = True, failing: str = "") -> Path:
    """Put fake ``ssh``/``scp`` first on PATH; the "device" is ``tmp_path/device``.

    ssh runs the remote command with ``sh -c`` and HOME set to the device's home; a
    host named ``unreachable`` fails the way ssh does (status 255). The device's
    ``lce_benchmark_model`` logs its arguments and prints the recorded output with
    the graph and thread count it was given, or the tool's error for a missing graph,
    or, for a graph whose file name starts with ``failing``, TFLite's error for a model
    whose tensors cannot be allocated.
    """
    device = tmp_path / "device"
    (device / "home").mkdir(parents=True)
    (device / "bin").mkdir()
    tools = tmp_path / "fake-tools"
    tools.mkdir()
    _executable(
        tools / "ssh",
        f"""
        #!/bin/sh
        while [ $# -gt 0 ]; do
            case "$1" in -o|-p|-i) shift 2 ;; -*) shift ;; *) break ;; esac
        done
        host=$1; shift
        case "$host" in *unreachable*)
            echo "ssh: connect to host ${{host#*@}} port 22: Connection refused" >&2; exit 255 ;;
        esac
        echo "$*" >> "{device}/ssh.log"
        cd "{device}/home" && HOME="{device}/home" PATH="{device}/bin:$PATH" exec sh -c "$*"
        """,
    )
    _executable(
        tools / "scp",
        f"""
        #!/bin/sh
        while [ $# -gt 0 ]; do
            case "$1" in -o|-P|-i) shift 2 ;; -*) shift ;; *) break ;; esac
        done
        source=$1; destination=${{2#*:}}
        case "$destination" in /*) ;; *) destination="{device}/home/$destination" ;; esac
        cp "$source" "$destination"
        """,
    )
    if with_binary:
        _executable(
            device / "bin" / "lce_benchmark_model",
            f"""
            #!/bin/sh
            echo "$*" >> "{device}/benchmark.log"
            for arg in "$@"; do
                case "$arg" in --graph=*) graph=${{arg#--graph=}} ;; --num_threads=*) threads=${{arg#--num_threads=}} ;; esac
            done
            if [ ! -f "$graph" ]; then
                sed "s|/tmp/dwr-larq-benchmark/missing.tflite|$graph|" "{DATA / 'lce_benchmark_model_missing_graph.txt'}"
                exit 1
            fi
            case "$(basename "$graph")" in "{failing or '/'}"*)
                printf 'INFO: Graph: [%s]\nERROR: Failed to allocate tensors!\nERROR: Benchmarking failed.\n' "$graph"
                exit 1 ;;
            esac
            sed -e "s|/tmp/dwr-larq-benchmark/ResNet18DWR-224-3f2a9c1d0b7e.tflite|$graph|" \\
                -e "s|threads: \\[1\\]|threads: [$threads]|" "{RECORDED}"
            """,
        )
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    return device
