"""The performance targets of netcl's benchmark issues, computed from merged result rows and the
alternating rounds (rounds.py).

Each target is {"name", "value", "goal", "met", "detail"}; a target whose inputs are missing
has value None and says which result it lacks, so a partial run never reports a made-up ratio.
"""

import rounds

BIG = 1 << 24
ONE_K = 1024


class Rows:
    """Look-ups over result rows by impl, variant, numel, tensors and (optionally) layout."""

    def __init__(self, rows):
        self.rows = rows

    def find(self, impl, variant="plain", numel=BIG, tensors=1, layout=None):
        for r in self.rows:
            if (r["impl"], r["variant"], r["numel"], r["tensors"]) == (impl, variant, numel, tensors) \
                    and (layout is None or r["layout"] == layout):
                return r
        return None

    def netcl(self, variant="plain", numel=BIG):
        """netcl measured by netcl-bench (C), else from Java (JMH): (row, label) or (None, None)."""
        for impl in ("netcl", "netcl-java"):
            r = self.find(impl, variant, numel)
            if r is not None:
                return r, impl
        return None, None

    def best(self, impls, variant="plain", numel=BIG, tensors=1):
        found = [r for r in (self.find(i, variant, numel, tensors) for i in impls) if r is not None]
        return min(found, key=lambda r: r["ms_per_step"]) if found else None


def target(name, value, goal, at_least, detail):
    met = None if value is None else (value >= goal if at_least else value <= goal)
    return {"name": name, "value": value, "goal": (">= " if at_least else "<= ") + str(goal),
            "met": met, "detail": detail}


def missing(what):
    return f"missing: {what}"


def copy_ratio(rows, name, variant, goal):
    """netcl's bandwidth over the device's copy bandwidth for the same bytes."""
    netcl, label = rows.netcl(variant)
    copy = rows.find("copy", variant)
    if netcl is None or copy is None:
        lacking = [w for w, r in ((f"netcl {variant} 2^24", netcl), (f"copy {variant} 2^24", copy)) if r is None]
        return target(name, None, goal, True, missing(" and ".join(lacking)))
    return target(name, netcl["gb_per_s"] / copy["gb_per_s"], goal, True,
                  f"{label} {netcl['gb_per_s']:.1f} GB/s / copy {copy['gb_per_s']:.1f} GB/s")


def speedup(rows, name, peers, peer_label, goal):
    """How many times faster netcl's plain 2^24 step is than the best of `peers`."""
    netcl, label = rows.netcl()
    peer = rows.best(peers)
    if netcl is None or peer is None:
        return target(name, None, goal, True,
                      missing("netcl plain 2^24" if netcl is None else f"{peer_label} plain 2^24"))
    return target(name, peer["ms_per_step"] / netcl["ms_per_step"], goal, True,
                  f"{peer['impl']} {peer['ms_per_step']:.2f} ms / {label} {netcl['ms_per_step']:.2f} ms")


def java_loop_speedup(paired, variant="plain", numel=BIG):
    """The faster Java loop's time over netcl's, in the same rounds (median of per-round ratios)."""
    name = f"b: {variant} 2^24 netcl speed-up vs java-loop (faster of 1 and {paired['threads']} threads, same rounds)"
    case = next((c for c in paired["cases"] if (c["variant"], c["numel"], c["tensors"]) == (variant, numel, 1)), None)
    if case is None:
        return target(name, None, 1, True, missing(f"alternating rounds {variant} 2^24"))
    r = rounds.ratio(case, rounds.BEST)
    return target(name, r["median"], 1, True,
                  f"median of {case['rounds']} rounds, quartiles {r['q1']:.2f}-{r['q3']:.2f}; java-loop-best "
                  f"{rounds.best_ms(case):.2f} ms, netcl {case['times']['netcl']['median_ms']:.2f} ms")


def beats_java_loop(paired, from_exponent, goal):
    """The least java-loop (1 thread) / netcl (automatic path) ratio over the alternating rounds'
    cases from 2^from_exponent floats up, the lists included (ResNet-50's, the 1,000 small tensors
    in each layout), every variant."""
    name = (f"f: java-loop / netcl, least over every variant from 2^{from_exponent} to 2^26 and the "
            f"lists (ResNet-50, 1,000 × 100 floats; alternating rounds)")
    cases = [c for c in paired["cases"] if c["tensors"] > 1 or (rounds.exponent(c) or 0) >= from_exponent]
    if not cases:
        return target(name, None, goal, True, missing("alternating rounds"))

    def median(c):
        return rounds.ratio(c, rounds.SERIAL)["median"]

    least = min(cases, key=median)
    r = rounds.ratio(least, rounds.SERIAL)
    below = [f"{c['variant']} {rounds.size_label(c).split(' (')[0]} {median(c):.2f}" for c in rounds.ordered(cases)
             if median(c) < goal]
    return target(name, r["median"], goal, True,
                  f"least at {least['variant']} {rounds.size_label(least).split(' (')[0]} (quartiles "
                  f"{r['q1']:.2f}-{r['q3']:.2f}) of {len(cases)} cases; below {goal}: "
                  + (", ".join(below) if below else "none"))


def list_overhead(rows, resnet50_total, resnet50_count):
    name = "d: ResNet-50 list (contiguous) / one tensor of the same size, time"
    as_list = rows.find("netcl", "plain", resnet50_total, resnet50_count, "contiguous")
    single = rows.find("netcl", "plain", resnet50_total, 1)
    if as_list is None or single is None:
        return target(name, None, 1.15, False, missing("netcl-bench's ResNet-50 cases"))
    return target(name, as_list["ms_per_step"] / single["ms_per_step"], 1.15, False,
                  f"{as_list['ms_per_step']:.2f} ms / {single['ms_per_step']:.2f} ms")


def tiny_list_overhead(rows, layout):
    name = f"d: 1,000 tensors of 100 floats ({layout}) / one tensor of the same size, time"
    as_list = rows.find("netcl", "plain", 100_000, 1000, layout)
    single = rows.find("netcl", "plain", 100_000, 1)
    if as_list is None or single is None:
        return target(name, None, 1.2, False, missing("netcl-bench's 1,000-tensor cases"))
    return target(name, as_list["ms_per_step"] / single["ms_per_step"], 1.2, False,
                  f"{as_list['ms_per_step'] * 1e3:.1f} us / {single['ms_per_step'] * 1e3:.1f} us")


def java_overhead(rows):
    """What the Java layer adds to a 1K step, and what it allocates.

    With per-step samples (scripts/bench runs NetclStep at 1K in JMH's sample mode too) the
    overhead is the difference of the fastest steps: a 1K step on PoCL is a floor plus a
    thread wake-up delay that varies by tens of microseconds between steps and runs, and a
    fixed cost like the Java layer's shows in the floor. Otherwise the medians are compared.
    """
    java, raw = rows.find("netcl-java", numel=ONE_K), rows.find("raw-c", numel=ONE_K)
    overhead_name = "e: 1K step from Java minus the raw C call, us"
    alloc_name = "e: bytes allocated per 1K step from Java"
    if java is None or raw is None:
        lacking = missing("JMH netcl-java and raw-c at 1024")
        return [target(overhead_name, None, 5, False, lacking), target(alloc_name, None, 0, False, lacking)]
    medians = (f"median of iterations: netcl-java {java['ms_per_step'] * 1e3:.1f} us, "
               f"raw-c {raw['ms_per_step'] * 1e3:.1f} us")
    if "step_min_ms" in java and "step_min_ms" in raw:
        overhead = (java["step_min_ms"] - raw["step_min_ms"]) * 1e3
        detail = (f"fastest step: netcl-java {java['step_min_ms'] * 1e3:.2f} us - raw-c "
                  f"{raw['step_min_ms'] * 1e3:.2f} us; median step: {java['step_median_ms'] * 1e3:.1f} "
                  f"us vs {raw['step_median_ms'] * 1e3:.1f} us ({java['step_samples']} and "
                  f"{raw['step_samples']} samples); {medians}")
    else:
        overhead = (java["ms_per_step"] - raw["ms_per_step"]) * 1e3
        detail = medians
    alloc = java["alloc_bytes_per_step"]
    return [
        target(overhead_name, overhead, 5, False, detail),
        # Below one byte per step nothing is allocated per step (an object takes >= 16 B): the
        # rest is JMH's bookkeeping, which the raw C call (allocation-free) shows as well.
        target(alloc_name, None if alloc is None else (0 if alloc < 1 else alloc), 0, False,
               f"netcl-java {alloc:.2f} B/step, raw-c {raw['alloc_bytes_per_step']:.2f} B/step "
               "(JMH gc.alloc.rate.norm, least over iterations)" if alloc is not None
               else missing("gc.alloc.rate.norm (run JMH with -prof gc)")),
    ]


def markdown(results):
    lines = ["| target | value | goal | met | detail |", "|---|--:|---|---|---|"]
    for t in results:
        value = "n/a" if t["value"] is None else f"{t['value']:.2f}"
        met = {True: "yes", False: "NO", None: "n/a"}[t["met"]]
        lines.append(f"| {t['name']} | {value} | {t['goal']} | {met} | {t['detail']} |")
    return "\n".join(lines)


def compute(rows, resnet50, paired):
    rows = Rows(rows)
    return [
        copy_ratio(rows, "a: plain 2^24 netcl / copy bandwidth", "plain", 0.90),
        speedup(rows, "b: plain 2^24 netcl speed-up vs torch (best of foreach on/off)",
                ("torch", "torch-foreach"), "torch", 5),
        speedup(rows, "b: plain 2^24 netcl speed-up vs nd4j", ("nd4j",), "nd4j", 5),
        java_loop_speedup(paired),
        copy_ratio(rows, "c: centered_momentum 2^24 netcl / copy bandwidth", "centered_momentum", 0.85),
        list_overhead(rows, sum(resnet50), len(resnet50)),
        tiny_list_overhead(rows, "contiguous"),
        tiny_list_overhead(rows, "separate"),
        *java_overhead(rows),
        beats_java_loop(paired, 10, 1.0),
        beats_java_loop(paired, 16, 1.5),
    ]
