"""The alternating-rounds results (java/bench's netcl.bench.AlternatingRounds) as report tables.

Each case holds every contender's step time per round and the ratios peer time / netcl time,
each computed round by round and summarized by its median, quartiles, extremes and a 95%
confidence interval of the median. The peer the goal names is "java-loop-serial", the plain
single-threaded loop over float[]; "java-loop-best" is the faster of it and the all-core loop
in each round.
"""

SERIAL = "java-loop-serial"
PARALLEL = "java-loop-parallel"
BEST = "java-loop-best"
NETCL_PATHS = ["netcl", "netcl-kernel", "netcl-host"]
VARIANTS = ["plain", "momentum", "centered_momentum"]
# The size ranges the summary gives a row each: exponents of two, both ends included.
RANGES = [(10, 14), (16, 20), (22, 26)]


def ratio(case, peer, netcl="netcl"):
    """The summarized ratio peer / netcl of a case, or None where one side was not measured."""
    return next((r for r in case["ratios"] if (r["peer"], r["netcl"]) == (peer, netcl)), None)


def exponent(case):
    """log2 of a one-tensor case's size; None for a list or a size that is no power of two."""
    n = case["numel"]
    return n.bit_length() - 1 if case["tensors"] == 1 and n & (n - 1) == 0 else None


def is_resnet50(case):
    return case.get("case") == "resnet50"


def size_label(case):
    """"2^20", "ResNet-50 list (161 tensors, N floats)" or "1,000 × 100 floats, separate"."""
    if is_resnet50(case):
        return f"ResNet-50 list ({case['tensors']} tensors, {case['numel']} floats)"
    if case["tensors"] > 1:
        return f"{case['tensors']:,} × {case['numel'] // case['tensors']} floats, {case['layout']}"
    e = exponent(case)
    return f"2^{e}" if e is not None else str(case["numel"])


def busy(case):
    """Whether a case's ratios come from all rounds, other programs' included (too few quiet ones)."""
    return case["ratios_from"] != "quiet rounds"


def best_ms(case):
    """The faster Java loop's median step time over the rounds (per round, the faster of the two)."""
    serial, parallel = case["times"][SERIAL]["rounds_ms"], case["times"][PARALLEL]["rounds_ms"]
    best = sorted(min(s, p) for s, p in zip(serial, parallel))
    n = len(best)
    return (best[(n - 1) // 2] + best[n // 2]) / 2


def ordered(cases):
    """By variant, then one tensor by size, the ResNet-50 list, the other lists."""
    return sorted(cases, key=lambda c: (VARIANTS.index(c["variant"]) if c["variant"] in VARIANTS else 99,
                                        0 if c["tensors"] == 1 else 1 if is_resnet50(c) else 2,
                                        c["numel"], c.get("layout", "")))


def fmt_ratio(r, spread=True):
    if r is None:
        return ""
    return f"{r['median']:.2f} ({r['q1']:.2f}–{r['q3']:.2f})" if spread else f"{r['median']:.2f}"


def fmt_ms(ms):
    return f"{ms:.4f}" if ms < 1 else f"{ms:.2f}"


def range_rows(data):
    """Per variant and size range (and each list: ResNet-50, the small tensors in each layout): the
    least median ratio of the serial loop and of the best loop over netcl's automatic path, and
    where it was."""
    rows = []
    for variant in VARIANTS:
        cases = [c for c in data["cases"] if c["variant"] == variant]
        groups = [(f"2^{lo}–2^{hi}", [c for c in cases if exponent(c) is not None and lo <= exponent(c) <= hi])
                  for lo, hi in RANGES]
        lists = {}  # by name, in ordered()'s order
        for c in ordered([c for c in cases if c["tensors"] > 1]):
            lists.setdefault(size_label(c).split(" (")[0], []).append(c)
        groups += lists.items()
        for label, group in groups:
            if not group:
                continue
            least = min(group, key=lambda c: ratio(c, SERIAL)["median"])
            least_best = min(group, key=lambda c: ratio(c, BEST)["median"])
            rows.append({"variant": variant, "sizes": label, "cases": len(group),
                         "paths": sorted({c["auto_path"] for c in group}),
                         "least": ratio(least, SERIAL), "least_at": size_label(least), "least_busy": busy(least),
                         "least_best": ratio(least_best, BEST), "least_best_at": size_label(least_best),
                         "least_best_busy": busy(least_best)})
    return rows


def summary_markdown(data):
    lines = ["| variant | sizes | netcl took | java-loop / netcl, least | at | best Java loop / netcl, least | at |",
             "|---|---|---|--:|---|--:|---|"]
    for r in range_rows(data):
        at = r["least_at"].split(" (")[0] + (" (busy)" if r["least_busy"] else "")
        best_at = r["least_best_at"].split(" (")[0] + (" (busy)" if r["least_best_busy"] else "")
        lines.append(f"| {r['variant']} | {r['sizes']} | {', '.join(r['paths'])} | {fmt_ratio(r['least'])} | {at} "
                     f"| {fmt_ratio(r['least_best'])} | {best_at} |")
    return "\n".join(lines)


def table_markdown(data, key="cases"):
    """Every case of data[key] (the back-to-back cases, or "after_gap_cases") in a row."""
    threads = data.get("threads")
    lines = [f"| case | rounds used | others | netcl took | netcl ms | GB/s | java-loop ms | java-loop {threads}T ms "
             "| java-loop / netcl | java-loop / netcl-kernel | java-loop / netcl-host | best Java loop / netcl "
             "| java-loop / netcl per pass |",
             "|---|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for c in ordered(data[key]):
        netcl_ms = c["times"]["netcl"]["median_ms"]
        others = c.get("other_load_cores")
        used = (f"{c['rounds_used']} of all {c['rounds']} (busy)" if busy(c)
                else f"{c['rounds_used']} of {c['quiet_rounds']} quiet of {c['rounds']}")
        cells = [f"{c['variant']}, {size_label(c)}", used, "" if others is None else f"{others:.2f}",
                 c["auto_path"], fmt_ms(netcl_ms),
                 f"{c['bytes_per_step'] / (netcl_ms * 1e6):.1f}", fmt_ms(c["times"][SERIAL]["median_ms"]),
                 fmt_ms(c["times"][PARALLEL]["median_ms"])]
        cells += [fmt_ratio(ratio(c, SERIAL, netcl)) for netcl in NETCL_PATHS]
        cells.append(fmt_ratio(ratio(c, BEST)))
        cells.append(" / ".join(f"{m:.2f}" for m in ratio(c, SERIAL).get("pass_medians", [])))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def explanation(data):
    threads = data["threads"]
    jvms = "each pass in a JVM of its own" if data.get("pass_jvms") else "one JVM"
    return (f"Alternating rounds (java/bench `AlternatingRounds`, {jvms}): per case, netcl's `RMSProp.step()` on each "
            f"path and the plain-Java loop over float[] (1 thread: `java-loop`, the baseline; all {threads} cores: "
            f"`java-loop {threads}T`) take turns in batches of >= {data['batch_ms']} ms. A ratio is peer time / netcl "
            "time in the same round (above 1: netcl is faster); cells give the median over the rounds used and, in "
            "parentheses, the quartiles of the per-round ratios. The rounds used are the quiet ones (other programs "
            f"used at most {data['quiet_cores']} cores in them and in the rounds next to them, from Linux's tick "
            f"counts) when there are at least {data['min_rounds']} (else all, marked busy). The cases run in "
            f"{data['passes']} passes over the whole list, each on newly allocated tensors, and a case's rounds are "
            f"those of all its passes: in each pass they go on (after {data['warmup_rounds']} dropped, at least "
            f"{data['pass_min_rounds']}) until the pass alone knows every ratio's median within "
            f"{100 * data['precision']:.0f}% (95% confidence) or {data['budget_s'] / data['passes']:.1f} s have "
            "passed, so that a case's ratios come from minutes spread over the run; every pass gives as many rounds "
            "as the one with the fewest (spread evenly over it), so that no pass weighs more than another in a "
            "median; \"per pass\": the median of each pass's rounds alone (a pass's JVM compiles the loops its own "
            "way: one whose plain-Java loop came out twice as slow moves one pass, not the run). \"others\": the "
            f"CPU other programs used over all the case's rounds, in cores of {threads}: netcl's larger steps and the "
            f"{threads}-thread loop use every core and lose more to other work than the 1-thread loop, so a ratio from "
            "busy rounds is lower than on a quiet machine and moves with the load. ms and GB/s: medians over the "
            "rounds used. \"best Java loop\": the faster of the two loops in each round. \"netcl took\": the path of "
            f"netcl's automatic choice. Load average before and after: {data['loadavg_before']}; "
            f"{data['loadavg_after']}.")


def after_gap_explanation(data):
    return (f"The same rounds with a busy gap of {data['gap_us']} us on the calling thread before every step, as a "
            "training loop's forward and backward pass would leave it (java/bench `AfterGap`): threads that back-to-"
            "back steps keep spinning have gone to sleep by then. Only the steps are timed; the rest is as above.")
