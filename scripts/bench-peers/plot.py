"""The benchmark chart: netcl against the fastest plain-Java loop at each size.

Two panels over the tensor size (floats, log scale), both from the alternating rounds (netcl
and the Java loops measured in the same rounds; every other implementation is in the table):
left, plain RMSProp's bandwidth for netcl's `RMSProp.step()` and the faster Java loop (1 or
all threads); right, the one-thread java-loop's time / netcl's time for each variant, the
median of the per-round ratios with its quartiles as bars, against the 1.0 line (and the 1.5
aimed at from 2^16 floats). The lists are drawn at their total size: ResNet-50's as stars, the
1,000 tensors of 100 floats as diamonds (slices of one block) and crosses (each allocated on its
own); a hollow marker is a case whose ratios come from busy rounds (other programs used the
CPUs). matplotlib is imported lazily so that the report works without it.
"""

import rounds

COLORS = {"plain": "tab:blue", "momentum": "tab:orange", "centered_momentum": "tab:green"}
LISTS = "ResNet-50 list: stars; 1,000 × 100 floats: diamonds (one block), crosses (separate)"


def marker(case):
    if case["tensors"] == 1:
        return "o"
    if rounds.is_resnet50(case):
        return "*"
    return "D" if case["layout"] == "contiguous" else "X"


def plot(data, path, title):
    import matplotlib
    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    fig, (bandwidth, speedup) = plt.subplots(1, 2, figsize=(14, 5.5))
    plain = rounds.ordered([c for c in data["cases"] if c["variant"] == "plain"])
    single = [c for c in plain if c["tensors"] == 1]
    lists = [c for c in plain if c["tensors"] > 1]

    def gbps(case, ms):
        return case["bytes_per_step"] / (ms * 1e6)

    for label, ms_of, style in (("netcl RMSProp.step() (Java)", lambda c: c["times"]["netcl"]["median_ms"],
                                 {"color": "tab:red", "marker": "o", "linewidth": 2}),
                                (f"fastest Java loop over float[] (1 or {data['threads']} threads)", rounds.best_ms,
                                 {"color": "tab:gray", "marker": "s", "linestyle": "--"})):
        bandwidth.plot([c["numel"] for c in single], [gbps(c, ms_of(c)) for c in single], label=label, **style)
        for c in lists:
            bandwidth.scatter(c["numel"], gbps(c, ms_of(c)), marker=marker(c), s=120, color=style["color"], zorder=3)
    bandwidth.set_title("plain RMSProp: bandwidth")
    bandwidth.set_ylabel("GB/s (bytes a fused step must move / step time)")
    bandwidth.set_ylim(bottom=0)

    busy_label = "busy: other programs ran (hollow)"
    for variant, color in COLORS.items():
        cases = rounds.ordered([c for c in data["cases"] if c["variant"] == variant])
        one = [c for c in cases if c["tensors"] == 1]
        if not one:
            continue
        r = [rounds.ratio(c, rounds.SERIAL) for c in one]
        speedup.errorbar([c["numel"] for c in one], [x["median"] for x in r],
                         yerr=[[x["median"] - x["q1"] for x in r], [x["q3"] - x["median"] for x in r]],
                         marker="o", capsize=3, color=color, label=variant)
        for c in cases:
            median = rounds.ratio(c, rounds.SERIAL)["median"]
            if c["tensors"] > 1:
                speedup.scatter(c["numel"], median, marker=marker(c), s=120, color=color, zorder=3)
            if c["ratios_from"] != "quiet rounds":
                speedup.scatter(c["numel"], median, marker=marker(c), s=90, zorder=4,
                                facecolors="white", edgecolors=color, label=busy_label)
                busy_label = None
    speedup.axhline(1.0, color="black", linewidth=1)
    speedup.axhline(1.5, color="gray", linewidth=1, linestyle=":", label="1.5, aimed at from 2^16")
    speedup.set_title("java-loop (1 thread) time / netcl time, same rounds (above 1: netcl faster)")
    speedup.set_ylabel("median of per-round ratios (bars: quartiles)")
    speedup.set_ylim(bottom=0)

    for ax in (bandwidth, speedup):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("floats per step (lines: one tensor)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(f"{title}\n{LISTS}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
