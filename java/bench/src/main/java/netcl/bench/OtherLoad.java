package netcl.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What the rest of the machine did with the CPUs, from Linux's tick counts: all CPUs' busy
 * ticks (/proc/stat, hypervisor steal included) minus this process's own (/proc/self/stat, all
 * its threads: the JIT, the collector, PoCL's and netcl's workers). A snapshot is taken before
 * and after each round.
 *
 * <p>Why it matters: netcl's larger steps and the all-core Java loop use every core, the
 * one-thread loop uses one, so a program busy on one core of two slows the first and not the
 * second. Measured here on 2 cores, netcl's 2^24 step was 1.9 times faster than the one-thread
 * loop with the machine to itself and as fast as it, 0.98, while another program kept one core
 * busy: a ratio depends on the load, not only on noise that alternating rounds average out.
 */
final class OtherLoad {
    /** The most CPU, in cores, that other programs may use in a round that counts as quiet. */
    static final double QUIET_CORES = 0.15;

    private final long busy;
    private final long all;
    private final long own;

    private OtherLoad(long busy, long all, long own) {
        this.busy = busy;
        this.all = all;
        this.own = own;
    }

    /** Now, or null where /proc cannot be read (not Linux). */
    static OtherLoad now() {
        try {
            // "cpu  user nice system idle iowait irq softirq steal guest guest_nice" (guest is in user)
            String[] cpu = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
            long[] t = new long[8];
            for (int i = 0; i < t.length; i++) {
                t[i] = Long.parseLong(cpu[i + 1]);
            }
            long busy = t[0] + t[1] + t[2] + t[5] + t[6] + t[7];
            long all = busy + t[3] + t[4];
            // Fields after the command name in parentheses; utime and stime are the 12th and 13th.
            String self = Files.readString(Path.of("/proc/self/stat"));
            String[] fields = self.substring(self.lastIndexOf(')') + 2).split(" ");
            long own = Long.parseLong(fields[11]) + Long.parseLong(fields[12]);
            return new OtherLoad(busy, all, own);
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** The CPU other programs used between {@code before} and this, in cores (NaN when unknown). */
    double coresSince(OtherLoad before, int cpus) {
        if (before == null || all == before.all) {
            return Double.NaN;
        }
        return othersTicksSince(before) * cpus / (all - before.all);
    }

    /**
     * Whether other programs stayed (nearly) off the CPUs between {@code before} and this: they
     * took at most {@value #QUIET_CORES} cores' worth of the ticks. Ticks are sampled 10 ms
     * apart on each CPU: a round of 25 ms on 2 CPUs has about 5 and must have none of theirs, one
     * of 100 ms may have one (a kernel thread's, or a sampler's). A program busy on one core of
     * two takes half of them.
     */
    boolean quietSince(OtherLoad before, int cpus) {
        return before != null && othersTicksSince(before) <= QUIET_CORES / cpus * (all - before.all);
    }

    private double othersTicksSince(OtherLoad before) {
        return Math.max(0, (busy - before.busy) - (own - before.own));
    }
}
