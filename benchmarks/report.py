"""The harness's human-readable outputs: a markdown summary and a PNG of the scaling curves."""

from __future__ import annotations

from pathlib import Path

from benchmarks.systems import SYSTEMS
from npnet.atomic import atomic_write

# The targets for the scaling factors: npnet's epoch on the doubled workload over the base one.
SCALING_TARGETS = {"samples": 2.1, "length": 1.3, "vocab": 2.2}
RSS_TARGET_MB = 250  # the target for `npnet train`'s peak RSS (an earlier target was 300)
# The speed targets: npnet's epoch / Keras-JAX's at these batch sizes, npnet / bound, repeated-fit setup /
# epoch.
KERAS_JAX_TARGETS = {512: 0.5, 32: 0.7}
BOUND_TARGET = 2.0
SETUP_TARGET = 0.05


def _fmt(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:.3f}"


def write_markdown(path: Path, results: dict) -> None:
    machine = results["machine"]
    blas = ", ".join(
        f"{b.get('internal_api') or b.get('name')} {b.get('version')} x{b.get('num_threads')}"
        for b in machine["blas"]
    )
    lines = [
        "# npnet benchmark",
        "",
        f"Command: `{results['command']}`  ",
        f"Workload: {results['workload']}  ",
        f"Machine: {machine['cpu']}, {machine['usable_cpus']} usable CPUs, Python {machine['python']}, "
        f"NumPy {machine['numpy']}, BLAS {blas}; load average {machine['load_average']} at start, "
        f"{results['load_average_end']} at end.",
        "",
        "## Epoch (training + validation), median over alternating rounds",
        "",
        "| system | train s | validation s | total s | x npnet (paired median, range) | peak RSS MB |",
        "|---|---|---|---|---|---|",
    ]
    ratios = results["ratios_to_npnet"]
    for key, r in results["epochs"].items():
        label = SYSTEMS[r["system"]].label
        if "skipped" in r:
            lines.append(f"| {label} | skipped: {r['skipped']} | | | | |")
            continue
        ratio = ratios.get(key)
        ratio_text = (
            "1" if key == "npnet" else f"{ratio['median']:.2f} ({ratio['min']:.2f} to {ratio['max']:.2f})"
        )
        lines.append(
            f"| {label} | {_fmt(r['median_train_s'])} | {_fmt(r['median_val_s'])} "
            f"| {_fmt(r['median_total_s'])} | {ratio_text} | {r.get('peak_rss_mb', 0):.0f} |"
        )
    bound = results["bound"]
    lines += [
        "",
        "Unavoidable work (each distinct (review, id) pair's row gathered once forward, once backward, "
        f"once for validation; {bound['train_pairs']:,} + {bound['val_pairs']:,} pairs): "
        f"**{bound['bound_s']:.3f} s**; npnet / bound = {_fmt(results['npnet_over_bound'])}. "
        f"Copy bandwidth {results['copy_bandwidth_gbs']:.1f} GB/s.",
        *_train_rss_lines(results.get("train_rss")),
        *fasttext_lines(results.get("fasttext")),
        "",
        "## Against issue 18's targets",
        "",
        *target_lines(results),
        *(["", *batch_curve_lines(results["batch_curve"])] if "batch_curve" in results else []),
        "",
        "## Per operation (ms per batch, median)",
        "",
        "| operation | ms |",
        "|---|---|",
        *(f"| {name} | {ms:.3f} |" for name, ms in results["operations_ms"].items()),
        "",
        "## Dense/sparse split of the fast kernel (take + forward + backward per batch)",
        "",
        "| dense_min_df | dense ids | tail tokens / batch | ms / batch | precompute s |",
        "|---|---|---|---|---|",
        *(
            f"| {row['dense_min_df']}{' (default)' if row['default'] else ''} | {row['dense_ids']} | "
            f"{row['tail_tokens_per_batch']:.0f} | {row['step_ms']:.3f} | {row['precompute_s']:.3f} |"
            for row in results["split_sweep"]
        ),
    ]
    if results["scaling"]:
        lines += [
            "",
            "## Scaling of npnet's epoch (paired factor to the base workload)",
            "",
            "| axis | value | epoch s | factor | target |",
            "|---|---|---|---|---|",
        ]
        for axis, points in results["scaling"].items():
            for p in points:
                target = SCALING_TARGETS.get(axis) if p["factor"] != 1.0 else None
                lines.append(
                    f"| {axis} | {p['value']:,} | {p['epoch_s']:.3f} | {p['factor']:.2f} "
                    f"| {f'<= {target}' if target else ''} |"
                )
    text = "\n".join(lines) + "\n"
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _train_rss_lines(rss: dict | None) -> list[str]:
    """The peak-RSS paragraph (only with --data DIR)."""
    if rss is None:
        return []
    if "error" in rss:
        return ["", f"Peak RSS of `npnet train`: not measured ({rss['error']})."]
    return [
        "",
        f"Peak RSS (VmHWM) of `{rss['command']}` (the real command, its own process, "
        f"{rss['seconds']:.1f} s): **{rss['peak_rss_mb']:.0f} MB** (target <= {RSS_TARGET_MB} MB).",
    ]


def _verdict(value: float | None, target: float) -> str:
    if value is None:
        return "not measured"
    return "met" if value <= target else f"**not met** ({value / target:.2f}x the target)"


def target_lines(results: dict) -> list[str]:
    """One line per target above (speed, bound, setup, memory) that this run measured: the value, the
    target, met or not."""
    lines = []
    bound = results.get("npnet_over_bound")
    batch = results["workload"].rsplit("batch ", 1)[-1]
    lines.append(
        f"- npnet / unavoidable-work bound at batch {batch}: {_fmt(bound)} (target <= {BOUND_TARGET}): "
        f"{_verdict(bound, BOUND_TARGET)}"
    )
    setup = results.get("setup", {})
    if "repeated_fit" in setup:
        rf, bag = setup["repeated_fit"], setup["bag_hash"]
        lines.append(
            f"- setup of a repeated fit(epochs=1) call: {1e3 * rf['median_repeat_setup_s']:.1f} ms = "
            f"{rf['repeat_setup_over_epoch']:.1%} of its epoch ({rf['median_epoch_s']:.3f} s; first call "
            f"{1e3 * rf['first_setup_s']:.0f} ms) (target <= {SETUP_TARGET:.0%}): "
            f"{_verdict(rf['repeat_setup_over_epoch'], SETUP_TARGET)}; hashing the {bag['ids_mb']:.1f} MB of "
            f"x_train (SHA-256) {1e3 * bag['sha256_s']:.1f} ms against building its bag "
            f"{1e3 * bag['build_s']:.0f} ms"
        )
    elif setup:
        lines.append(f"- setup of a repeated fit call: not measured ({setup.get('error')})")
    for size, target in KERAS_JAX_TARGETS.items():
        ratio = _keras_jax(results, size)
        if ratio is not None:
            lines.append(
                f"- npnet epoch / Keras-JAX epoch at batch {size} (paired median): {ratio:.2f} "
                f"(target <= {target}): {_verdict(ratio, target)}"
            )
    rss = results.get("train_rss")
    if rss and "peak_rss_mb" in rss and "error" not in rss:
        lines.append(
            f"- peak RSS of `npnet train` (notebook preset): {rss['peak_rss_mb']:.0f} MB "
            f"(target <= {RSS_TARGET_MB} MB): {_verdict(rss['peak_rss_mb'], RSS_TARGET_MB)}"
        )
    return lines


def _keras_jax(results: dict, size: int) -> float | None:
    """npnet / Keras-JAX at batch `size`: from the batch curve, or the base race at its own batch."""
    race = results.get("batch_curve", {}).get(str(size))
    if race is None and results["workload"].endswith(f"batch {size}"):
        race = results
    ratio = (race or {}).get("ratios_to_npnet", {}).get("keras-jax")
    return None if ratio is None else ratio["npnet_over"]


def batch_curve_lines(curve: dict[str, dict]) -> list[str]:
    """The race at each batch size: every system's median epoch, and npnet / system paired per round."""
    systems = list(dict.fromkeys(key for race in curve.values() for key in race["epochs"]))
    peers = [s for s in systems if s != "npnet"]
    lines = [
        "## Epoch (training + validation) against batch size, median s; npnet / peer paired within each size",
        "",
        "| batch | "
        + " | ".join(SYSTEMS[s].label for s in systems)
        + " | "
        + " | ".join(f"npnet / {s}" for s in peers)
        + " |",
        "|---" * (len(systems) + len(peers) + 1) + "|",
    ]
    for size, race in curve.items():
        times = [race["epochs"].get(s, {}).get("median_total_s") for s in systems]
        ratios = [race["ratios_to_npnet"].get(s, {}).get("npnet_over") for s in peers]
        lines.append(
            f"| {size} | "
            + " | ".join(_fmt(t) for t in times)
            + " | "
            + " | ".join("—" if r is None else f"{r:.2f}" for r in ratios)
            + " |"
        )
    return lines


def write_batch_plot(path: Path, curve: dict[str, dict]) -> None:
    """Epoch seconds against batch size, one line per system (log-log: the systems differ by 10x)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [int(size) for size in curve]
    systems = list(dict.fromkeys(key for race in curve.values() for key in race["epochs"]))
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for system in systems:
        points = [
            (int(size), race["epochs"][system]["median_total_s"])
            for size, race in curve.items()
            if "median_total_s" in race["epochs"].get(system, {})
        ]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", label=SYSTEMS[system].label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(sizes, [f"{v:,}" for v in sizes])
    ax.minorticks_off()
    ax.set_xlabel("batch size")
    ax.set_ylabel("epoch s (train + validation)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("epoch time against batch size")
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)


def fasttext_lines(result: dict | None) -> list[str]:
    """The fastText section (only with --fasttext-data DIR): steps beside Keras-JAX, Adam against the copy
    bandwidth, the n-gram build and the command's peak RSS."""
    if result is None:
        return []
    if "error" in result:
        return ["", f"fastText preset: not measured ({result['error']})."]
    ratios = result.get("x_keras_jax", {})
    lines = [
        "",
        f"## fastText preset (load {result['load_before'][0]:.1f} before, "
        f"{result['load_after'][0]:.1f} after)",
        "",
        "| system | s/step (median of rounds) | epoch (x steps) | x Keras-JAX (paired) |",
        "|---|---|---|---|",
    ]
    for name, seconds in result["seconds_per_step"].items():
        ratio = "1" if name == "keras-jax" else f"{ratios[name]:.3f}" if name in ratios else "-"
        epoch = result["epoch_seconds"][name]
        lines.append(f"| {name} | {seconds:.4f} | {epoch:.0f} s ({result['steps_per_epoch']}) | {ratio} |")
    adam, build = result["adam_and_copy"], result["ngram_build"]
    # A result saved before the harness timed the rows kernel has no rows figures: say nothing of them.
    from_rows = (
        f"; from a batch's {adam['rows_touched']:,} rows (the preset's step) "
        f"{adam['rows_adam_seconds']:.3f} s, {adam['rows_adam_fraction_of_bound']:.2f} of its bound"
        if "rows_adam_seconds" in adam
        else ""
    )
    lines += [
        "",
        f"Dense Adam on the {adam['table_mb']:.0f} MB table: {adam['adam_seconds']:.3f} s from a dense "
        f"gradient, {adam['adam_fraction_of_bound']:.2f} of the copy-bandwidth bound "
        f"(copy {adam['copy_gbs']:.1f} GB/s){from_rows}. "
        f"N-gram build: {build['ngrams']:,} n-grams, {build['total_seconds']:.1f} s wall, "
        f"{build['total_cpu_seconds']:.1f} s CPU.",
    ]
    rss = result.get("train_rss", {})
    if "peak_rss_mb" in rss:
        lines.append(f"Peak RSS of `{rss['command']}`: **{rss['peak_rss_mb']:.0f} MB**.")
    return lines


def write_plot(path: Path, scaling: dict[str, list[dict]]) -> None:
    """One panel per axis: npnet's epoch seconds against the workload parameter."""
    # Imported here: the harness imports this module before it measures, and pyplot would add ~30 MB to
    # the measuring process's memory.
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    axes_names = list(scaling) or ["(no scaling data)"]
    fig, axes = plt.subplots(1, len(axes_names), figsize=(4 * len(axes_names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], axes_names, strict=True):
        points = scaling.get(name, [])
        values = [p["value"] for p in points]
        ax.plot(values, [p["epoch_s"] for p in points], marker="o")
        ax.set_xscale("log")
        # Ticks at the measured values only, in plain numbers (log-axis minor labels overlap).
        ax.set_xticks(values, [f"{v:,}" for v in values])
        ax.minorticks_off()
        ax.set_xlabel(name)
        ax.set_ylabel("epoch s (train + validation)")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    fig.suptitle("npnet epoch time scaling")
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)
