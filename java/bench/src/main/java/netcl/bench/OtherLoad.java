package netcl.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * How much CPU the rest of the machine used while a case ran, in cores: all CPUs' busy time
 * (Linux's /proc/stat, hypervisor steal included) minus this process's own (/proc/self/stat),
 * over the wall time. Alternating rounds keep a ratio steady while the load stays steady, but a
 * step on two threads loses more to another program than a step on one, so a ratio measured
 * while other work ran is reported with how much there was.
 */
final class OtherLoad {
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

    /** The other programs' CPU use between {@code before} and this, in cores (NaN when unknown). */
    double coresSince(OtherLoad before, int cpus) {
        if (before == null || all == before.all) {
            return Double.NaN;
        }
        double others = (busy - before.busy) - (own - before.own);
        return Math.max(0, others) * cpus / (all - before.all);
    }
}
