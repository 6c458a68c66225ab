"""JMH's JSON (-rf json, with -prof gc) turned into result rows of netcl-bench's schema.

Each JMH benchmark method is one impl; its "size" parameter is a case: a number of floats (one
tensor) or "resnet50" (the list in native/bench/resnet50-shapes.txt). The step time is the
median of the measurement iterations' mean times (p10/p90 over the same), so one disturbed
iteration on a shared machine moves it less than JMH's mean score, which is kept beside it.
A sample-time record (-bm sample) of the same benchmark adds its per-step distribution.
"""

# JMH benchmark -> (impl, layout of a tensor list). The layout says how the list is held:
# slices of one block ("contiguous") or separately allocated tensors ("separate").
BENCHMARKS = {
    "netcl.bench.NetclStep.netclJava": ("netcl-java", "contiguous"),
    "netcl.bench.NetclStep.rawC": ("raw-c", "contiguous"),
    "netcl.bench.JavaLoopStep.serial": ("java-loop-serial", "separate"),
    "netcl.bench.JavaLoopStep.parallel": ("java-loop-parallel", "separate"),
    "netcl.bench.JavaSegmentStep.serial": ("java-segment-serial", "contiguous"),
    "netcl.bench.JavaSegmentStep.parallel": ("java-segment-parallel", "contiguous"),
    # DL4J runs its updater once over the flat view of all parameters (see Nd4jStep).
    "netcl.bench.Nd4jStep.updater": ("nd4j", "contiguous"),
}

# A plain-Java peer is reported as the faster of its one-thread and all-core versions.
PEERS = {"java-loop": ("java-loop-serial", "java-loop-parallel"),
         "java-segment": ("java-segment-serial", "java-segment-parallel")}

MS_PER_UNIT = {"ns/op": 1e-6, "us/op": 1e-3, "ms/op": 1.0, "s/op": 1e3}
PLAIN_BYTES_PER_ELEMENT = 20  # read p, g, v; write p, v: every JMH benchmark steps plain RMSProp


def percentile(sorted_values, fraction):
    """netcl-bench's percentile: the element at index floor(n * fraction)."""
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]


def convert(records, resnet50):
    """Rows for every average-time record, plus the chosen java-loop / java-segment peers;
    sample-time records add their per-step distribution to the row of the same benchmark."""
    rows = [row(rec, resnet50) for rec in records if rec["mode"] == "avgt"]
    for rec in records:
        if rec["mode"] == "sample":
            impl = BENCHMARKS[rec["benchmark"]][0]
            numel = sum(sizes_of(rec, resnet50))
            for r in rows:
                if (r["impl"], r["numel"]) == (impl, numel):
                    r.update(step_distribution(rec))
    return rows + chosen_peers(rows)


def sizes_of(rec, resnet50):
    size = rec["params"]["size"]
    return resnet50 if size == "resnet50" else [int(size)]


def step_distribution(rec):
    """Per-step times of a sample-time record: its least, 10th percentile and median, in ms.

    On PoCL a short step's time is a floor (the work) plus a wake-up delay of the device's
    threads that varies from step to step; the least step shows the floor, where a fixed cost
    such as the Java layer's is not hidden by that delay.
    """
    primary = rec["primaryMetric"]
    scale = MS_PER_UNIT[primary["scoreUnit"]]
    counts = {}
    for fork in primary["rawDataHistogram"]:
        for iteration in fork:
            for value, count in iteration:
                counts[value] = counts.get(value, 0) + count
    values = sorted(counts)
    total = sum(counts.values())

    def quantile(fraction):
        seen = 0
        for v in values:
            seen += counts[v]
            if seen > total * fraction:
                return v * scale
        return values[-1] * scale

    return {"step_min_ms": values[0] * scale, "step_p10_ms": quantile(0.1),
            "step_median_ms": quantile(0.5), "step_samples": total}


def row(rec, resnet50):
    """One average-time record as a result row."""
    if rec["benchmark"] not in BENCHMARKS:
        raise ValueError(f"unknown JMH benchmark {rec['benchmark']}: add it to BENCHMARKS")
    impl, list_layout = BENCHMARKS[rec["benchmark"]]
    sizes = sizes_of(rec, resnet50)
    primary = rec["primaryMetric"]
    scale = MS_PER_UNIT[primary["scoreUnit"]]
    times = sorted(t * scale for fork in primary["rawData"] for t in fork)
    median = percentile(times, 0.5)
    numel = sum(sizes)
    bytes_per_step = numel * PLAIN_BYTES_PER_ELEMENT
    alloc = rec.get("secondaryMetrics", {}).get("gc.alloc.rate.norm")
    return {
        "impl": impl, "variant": "plain", "layout": "single" if len(sizes) == 1 else list_layout,
        "numel": numel, "tensors": len(sizes), "ms_per_step": median,
        "p10_ms": percentile(times, 0.1), "p90_ms": percentile(times, 0.9),
        # JMH times iterations, not single steps: how many it ran is not recorded.
        "steps": None, "iterations": len(times),
        "bytes_per_step": bytes_per_step, "gb_per_s": bytes_per_step / (median * 1e6),
        "jmh_score_ms": primary["score"] * scale, "jmh_error_ms": primary["scoreError"] * scale,
        # JMH's own bookkeeping adds a fraction of a byte per step to every benchmark; the
        # least over iterations is the benchmark's own allocation (a real one is >= 16 B).
        "alloc_bytes_per_step": min(x for fork in alloc["rawData"] for x in fork) if alloc else None,
        "source": "jmh",
    }


def chosen_peers(rows):
    chosen = []
    for peer, versions in PEERS.items():
        by_case = {}
        for r in rows:
            if r["impl"] in versions:
                key = (r["variant"], r["numel"], r["tensors"])
                if key not in by_case or r["ms_per_step"] < by_case[key]["ms_per_step"]:
                    by_case[key] = r
        chosen += [dict(r, impl=peer, chosen_from=r["impl"]) for r in by_case.values()]
    return chosen
