"""The benchmark chart: bandwidth (GB/s) against tensor size for plain RMSProp on one tensor.

One line per implementation, the device's copy bandwidth dashed as the reference every
memory-bound step is held to, and the ResNet-50 list (161 tensors) as separate markers at its
total size (netcl-bench's other list, 16 equal tensors, stays in the table). matplotlib is imported lazily so that the report works without it.
"""

# Drawn in this order; anything else found in the results is drawn after them.
ORDER = ["copy", "netcl", "netcl-java", "raw-c", "c-loop", "java-loop", "java-segment",
         "torch", "torch-foreach", "nd4j"]
# Per-thread versions of the Java peers: the chart shows the chosen (faster) ones only.
HIDDEN = {"java-loop-serial", "java-loop-parallel", "java-segment-serial", "java-segment-parallel"}


def plot(rows, path, title, resnet50_count):
    import matplotlib
    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    plain = [r for r in rows if r["variant"] == "plain" and r["impl"] not in HIDDEN]
    impls = sorted({r["impl"] for r in plain}, key=lambda i: (ORDER.index(i) if i in ORDER else len(ORDER), i))
    fig, ax = plt.subplots(figsize=(13, 6.5))
    for impl in impls:
        single = sorted((r for r in plain if r["impl"] == impl and r["tensors"] == 1), key=lambda r: r["numel"])
        style = {"linestyle": "--", "color": "black", "linewidth": 1.5} if impl == "copy" else {"marker": "o"}
        line = None
        if single:
            (line,) = ax.plot([r["numel"] for r in single], [r["gb_per_s"] for r in single], label=impl, **style)
        lists = [r for r in plain if r["impl"] == impl and r["tensors"] == resnet50_count]
        for r in lists:
            ax.scatter(r["numel"], r["gb_per_s"], marker="s" if r["layout"] == "contiguous" else "^",
                       color=line.get_color() if line else None, s=60, zorder=3,
                       label=f"{impl} ResNet-50 list ({r['layout']})")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("floats per step (one tensor; markers: ResNet-50's 161 tensors)")
    ax.set_ylabel("GB/s (bytes a fused step must move / step time)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: the lines stay visible
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
