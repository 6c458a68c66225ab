package netcl.bench;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;

import netcl.optim.NetclException;
import netcl.optim.StepPath;

/**
 * netcl's step from Java against the plain-Java loop, timed in alternating rounds, for ratios
 * that hold on a shared, noisy machine. scripts/bench runs it:
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -Dnetcl.library=... -Dnetcl.bench.shapes=... \
 *      -cp benchmarks.jar netcl.bench.AlternatingRounds [--quick] --json FILE
 * </pre>
 *
 * <p>Cases: every variant ({@link Variant}: plain, momentum, centered with momentum) on one
 * tensor of 2^10 to 2^26 floats (every power of two; with --quick every other one), on
 * ResNet-50's parameter list, and on 1,000 tensors of 100 floats ({@link Sizes#MANY_SMALL}: the
 * biases and norms of a small model), once as slices of one block and once each allocated on
 * its own ({@link Layout}); the Java loop steps as many float[] as the case has tensors.
 * Contenders of a case: netcl on each path ("netcl" = automatic, "netcl-kernel", "netcl-host"
 * where the device allows it; {@link NetclContender}) and the Java loop over float[] on one
 * thread and on all cores ({@link JavaLoopContender}).
 *
 * <p>Method ({@link Rounds}): the contenders of a case take turns in rounds, one short batch
 * each, back to back; a ratio is computed per round from the two batches of that round, and
 * the report gives the median over the rounds with its quartiles and extremes
 * ({@link CaseResult}). Times taken milliseconds apart see the same load, so a ratio survives
 * a machine whose speed drifts with other work, where two separately timed benchmarks (JMH
 * one after the other, or two harnesses) do not. Rounds go on until every ratio's median is
 * known within {@value #PRECISION} (relative, 95% confidence) or the case's time budget is
 * spent. The ratios come from the quiet rounds (other programs used at most
 * {@link OtherLoad#QUIET_CORES} cores in them and in the rounds next to them, see
 * {@link Timings#quietAround}) when there are at least as many
 * as the least number of rounds, else from all rounds; the JSON says which, and how much CPU
 * other programs used. Before the cases, each variant's loops and netcl's Java layer run short
 * unrecorded cases (one tensor, and the list of many small ones) so that the JIT has compiled
 * them.
 *
 * <p>Passes: the cases run in {@value #PASSES} passes over the whole list, each in a JVM of its
 * own (started like this one, {@code --pass N --raw FILE}; this one only reports) on contenders
 * allocated anew, with a third of the least rounds and of the budget ({@link Rounds#pass}), and
 * a case's ratios come from the rounds of all its passes together, as many from each as the
 * pass with the fewest has ({@link Timings#balanced}). Within one pass the rounds
 * agree closely, yet two runs minutes apart differed by up to 40% on a ratio (a case's minutes
 * on this shared machine, and where its arrays land, move one side more than the other); rounds
 * spread over the run and over several allocations make a median that the next run repeats.
 * A JVM of its own per pass, because what the JIT makes of a loop holds for the whole JVM: in
 * one run, the Java loop's plain variant ran about twice as slow at every size from 2^10 to 2^18
 * floats (all its passes, one JVM), which no other JVM repeated; now such a JVM holds one pass
 * of three, the median of all rounds stays within the spread of the other two passes' rounds,
 * and each ratio's median per pass ({@code "pass_medians"}) shows it.
 *
 * <p>Training-loop cases: back-to-back steps keep worker threads spinning, which a training
 * loop does not, as its forward and backward pass run between two steps. So the sizes of
 * {@link #GAP_EXPONENTS} run again, every step after {@value #GAP_NANOS} ns with the calling
 * thread busy ({@link AfterGap}), in the same passes and rounds (their batches: {@value
 * #GAP_BATCH_NANOS} ns of steps), and only the steps timed.
 *
 * <p>Writes {"tool", "quick", "passes", "pass_jvms", "min_rounds", "pass_min_rounds", "warmup_rounds",
 * "batch_ms", "budget_s", "precision", "quiet_cores", "threads", "jdk", "loadavg_before", "loadavg_after",
 * "cases": [...], "gap_us", "after_gap_cases": [...], "skipped": [...]} (a case: see
 * {@link CaseResult#json()}) and prints a line per case.
 */
public final class AlternatingRounds {
    private static final int JIT_WARMUP_NUMEL = 1 << 12;
    /** Rounds of the unrecorded warm-up on the list of many small tensors: about a second. */
    private static final int JIT_WARMUP_LIST_ROUNDS = 40;
    private static final long BATCH_NANOS = 5_000_000;
    /** Passes over the cases (see the class comment). */
    private static final int PASSES = 3;
    /** Rounds go on until every ratio's median is known within this fraction (95% confidence). */
    private static final double PRECISION = 0.03;
    /**
     * The busy gap before every step of the training-loop cases ({@link AfterGap}), and the sizes
     * they run: those where a step is short enough that waking a thread weighs.
     */
    private static final long GAP_NANOS = 1_000_000;
    private static final int[] GAP_EXPONENTS = {14, 16, 18, 20};
    /** Their batches: the steps' time alone, with a gap of GAP_NANOS before each. */
    private static final long GAP_BATCH_NANOS = 100_000;

    /** Starts a line of a pass's rounds that names a contender it could not run, and why. */
    private static final String SKIPPED = "skipped ";

    private AlternatingRounds() {
    }

    public static void main(String[] args) throws IOException, InterruptedException {
        boolean quick = false;
        Path json = null;
        int pass = 0;
        Path raw = null;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--quick")) {
                quick = true;
            } else if (args[i].equals("--json") && i + 1 < args.length) {
                json = Path.of(args[++i]);
            } else if (args[i].equals("--pass") && i + 1 < args.length) {
                pass = Integer.parseInt(args[++i]);
            } else if (args[i].equals("--raw") && i + 1 < args.length) {
                raw = Path.of(args[++i]);
            } else {
                usage();
            }
        }
        if (pass > 0 && raw != null) {
            runPass(quick, pass, raw);
        } else if (json != null) {
            runPasses(quick, json);
        } else {
            usage();
        }
    }

    private static Rounds rounds(boolean quick) {
        return quick ? new Rounds(11, 2, BATCH_NANOS, 3_000_000_000L) : new Rounds(21, 3, BATCH_NANOS, 8_000_000_000L);
    }

    /** The back-to-back cases, in the order each pass runs them. */
    private static List<Case> cases(boolean quick) {
        List<Case> cases = new ArrayList<>();
        for (Variant variant : Variant.values()) {
            for (int e = 10; e <= 26; e += quick ? 2 : 1) {
                cases.add(new Case(variant, Long.toString(1L << e), Layout.CONTIGUOUS));
            }
            cases.add(new Case(variant, Sizes.RESNET50, Layout.CONTIGUOUS));
            for (Layout layout : Layout.values()) {
                cases.add(new Case(variant, Sizes.MANY_SMALL, layout));
            }
        }
        return cases;
    }

    /** The training-loop cases (each step after a busy gap), in the order each pass runs them. */
    private static List<Case> gapCases() {
        List<Case> cases = new ArrayList<>();
        for (Variant variant : Variant.values()) {
            for (int e : GAP_EXPONENTS) {
                cases.add(new Case(variant, Long.toString(1L << e), Layout.CONTIGUOUS, GAP_NANOS));
            }
        }
        return cases;
    }

    /** The passes, each in a JVM of its own (see the class comment), then the report. */
    private static void runPasses(boolean quick, Path json) throws IOException, InterruptedException {
        Rounds rounds = rounds(quick);
        Rounds pass = rounds.pass(PASSES);
        System.out.printf(Locale.ROOT, "alternating rounds: %d passes over the cases, each in a JVM of its own; in "
                + "each, a case takes turns in batches of >= %d ms for at least %d rounds (after %d dropped), until "
                + "every ratio's median is known within %.0f%% or after %.1f s%n",
                PASSES, BATCH_NANOS / 1_000_000, pass.minRounds(), pass.warmup(), 100 * PRECISION,
                pass.budgetNanos() / 1e9);
        String loadBefore = loadAverage();
        List<Case> cases = cases(quick);
        List<Case> gapCases = gapCases();
        List<String> skipped = List.of();
        for (int p = 1; p <= PASSES; p++) {
            Path raw = Files.createTempFile("netcl-rounds-pass", ".txt");
            try {
                runInOwnJvm(quick, p, raw);
                List<String> lines = Files.readAllLines(raw);
                int skips = 0;
                while (skips < lines.size() && lines.get(skips).startsWith(SKIPPED)) {
                    skips++;
                }
                skipped = lines.subList(0, skips).stream().map(line -> line.substring(SKIPPED.length())).toList();
                Iterator<String> passRounds = lines.subList(skips, lines.size()).iterator();
                for (Case c : cases) {
                    c.read(passRounds);
                }
                for (Case c : gapCases) {
                    c.read(passRounds);
                }
            } finally {
                Files.deleteIfExists(raw);
            }
        }
        List<String> results = new ArrayList<>();
        for (Case c : cases) {
            results.add(report(c.result(rounds.minRounds()), ""));
        }
        List<String> gapResults = new ArrayList<>();
        for (Case c : gapCases) {
            gapResults.add(report(c.result(rounds.minRounds()), " after gap"));
        }
        Files.writeString(json, String.format(Locale.ROOT,
                "{\"tool\": \"alternating-rounds\", \"quick\": %b, \"passes\": %d, \"pass_jvms\": %d, "
                        + "\"min_rounds\": %d, \"pass_min_rounds\": %d, \"warmup_rounds\": %d, "
                        + "\"batch_ms\": %d, \"budget_s\": %.1f, \"precision\": %.3f, \"quiet_cores\": %.2f, "
                        + "\"threads\": %d, \"jdk\": %s, \"loadavg_before\": %s, \"loadavg_after\": %s,%n"
                        + " \"cases\": [%n  %s],%n \"gap_us\": %d,%n \"after_gap_cases\": [%n  %s],%n"
                        + " \"skipped\": [%s]}%n",
                quick, PASSES, PASSES, rounds.minRounds(), pass.minRounds(), pass.warmup(), BATCH_NANOS / 1_000_000,
                rounds.budgetNanos() / 1e9,
                PRECISION, OtherLoad.QUIET_CORES, Runtime.getRuntime().availableProcessors(),
                quote(System.getProperty("java.vm.name") + " " + System.getProperty("java.vm.version")),
                quote(loadBefore), quote(loadAverage()), String.join(",\n  ", results), GAP_NANOS / 1000,
                String.join(",\n  ", gapResults), String.join(", ", skipped)));
    }

    /**
     * Runs pass {@code pass} in a new JVM, started as this one was (its java, JVM options and
     * class path), which writes its rounds to {@code raw}.
     */
    private static void runInOwnJvm(boolean quick, int pass, Path raw) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), AlternatingRounds.class.getName()));
        if (quick) {
            command.add("--quick");
        }
        command.addAll(List.of("--pass", Integer.toString(pass), "--raw", raw.toString()));
        Process child = new ProcessBuilder(command).inheritIO().start();
        Thread stopChild = new Thread(child::destroy);
        Runtime.getRuntime().addShutdownHook(stopChild);  // an interrupted run leaves no pass running
        int status = child.waitFor();
        Runtime.getRuntime().removeShutdownHook(stopChild);
        if (status != 0) {
            throw new IOException("pass " + pass + " of the alternating rounds failed (exit status " + status + ")");
        }
    }

    /**
     * One pass over every case, in this JVM: the JIT warm-up, the cases, the training-loop cases;
     * writes the rounds to {@code raw} (the skipped contenders, then each case, see
     * {@link Case#write}).
     */
    private static void runPass(boolean quick, int passNumber, Path raw) throws IOException {
        Rounds rounds = rounds(quick);
        Rounds pass = rounds.pass(PASSES);
        // The cycle of a round (see Rounds): netcl (automatic) between the two Java loops, each
        // forced path next to one of them.
        List<StepPath> paths = new ArrayList<>(List.of(StepPath.KERNEL, StepPath.AUTO, StepPath.HOST));
        List<String> skipped = new ArrayList<>();
        String hostMissing = hostPathMissing();
        if (hostMissing != null) {
            paths.remove(StepPath.HOST);
            skipped.add(String.format("{\"impl\": \"netcl-host\", \"reason\": %s}", quote(hostMissing)));
        }
        for (Variant variant : Variant.values()) {
            new Case(variant, Long.toString(JIT_WARMUP_NUMEL), Layout.CONTIGUOUS)
                    .measure(paths, new Rounds(5, 0, BATCH_NANOS, 0), 5);
            // A step over 1,000 parameters and the loop over 1,000 arrays compile only once they
            // run (both cores busy: the compiler waits): their first second ran 2-3 times slower
            // than the next passes on both sides (netcl 62-116 against 27-41 us a step).
            new Case(variant, Sizes.MANY_SMALL, Layout.SEPARATE).measure(paths,
                    new Rounds(JIT_WARMUP_LIST_ROUNDS, 0, BATCH_NANOS, 0), JIT_WARMUP_LIST_ROUNDS);
        }
        System.out.printf(Locale.ROOT, "pass %d of %d (JVM %d)%n", passNumber, PASSES, ProcessHandle.current().pid());
        List<Case> cases = cases(quick);
        for (Case c : cases) {
            c.measure(paths, pass, rounds.minRounds());
        }
        System.out.printf(Locale.ROOT, "pass %d of %d, each step after a busy gap of %d us%n", passNumber, PASSES,
                GAP_NANOS / 1000);
        Rounds gapPass = new Rounds(pass.minRounds(), pass.warmup(), GAP_BATCH_NANOS, pass.budgetNanos() / 2);
        List<Case> gapCases = gapCases();
        for (Case c : gapCases) {
            c.measure(paths, gapPass, rounds.minRounds());
        }
        List<String> lines = new ArrayList<>();
        for (String skip : skipped) {
            lines.add(SKIPPED + skip);
        }
        for (Case c : cases) {
            c.write(lines);
        }
        for (Case c : gapCases) {
            c.write(lines);
        }
        Files.write(raw, lines);
    }

    private static void usage() {
        System.err.println("usage: AlternatingRounds [--quick] --json FILE\n"
                + "       AlternatingRounds [--quick] --pass N --raw FILE   (one pass, as --json runs each)");
        System.exit(2);
    }

    /** The load averages of /proc/loadavg (1, 5, 15 minutes), or "" where there is none. */
    private static String loadAverage() {
        try {
            String[] fields = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return String.join(" ", fields[0], fields[1], fields[2]);
        } catch (IOException | RuntimeException e) {
            return "";
        }
    }

    /** Why the host path cannot be forced on the default device, or null when it can. */
    private static String hostPathMissing() {
        try (NetclContender probe = new NetclContender(new long[] {1024}, Layout.CONTIGUOUS, Variant.PLAIN,
                StepPath.HOST)) {
            probe.step(1);
            return null;
        } catch (NetclException e) {
            return e.getMessage();
        }
    }

    /** One case: its contenders, created anew for each pass, and the rounds of the passes so far. */
    private static final class Case {
        private final Variant variant;
        /** The case's name in {@link Sizes}. */
        private final String size;
        private final long[] numels;
        private final Layout layout;
        /** The busy gap before each step ({@link AfterGap}); 0: steps back to back. */
        private final long gapNanos;
        private List<String> impls;
        private String autoPath;
        private Timings timings;

        Case(Variant variant, String size, Layout layout) {
            this(variant, size, layout, 0);
        }

        Case(Variant variant, String size, Layout layout, long gapNanos) {
            this.variant = variant;
            this.size = size;
            this.numels = Sizes.of(size);
            this.layout = layout;
            this.gapNanos = gapNanos;
        }

        /**
         * One more pass of rounds, on contenders allocated for it; the pass stops early once its
         * own rounds give every ratio within {@link #PRECISION} from at least {@code minQuiet}
         * quiet rounds.
         */
        Case measure(List<StepPath> paths, Rounds pass, int minQuiet) {
            List<Contender> contenders = new ArrayList<>();
            try {
                for (StepPath path : paths) {
                    contenders.add(new NetclContender(numels, layout, variant, path));
                }
                NetclContender auto = (NetclContender) contenders.get(paths.indexOf(StepPath.AUTO));
                contenders.add(1, new JavaLoopContender(numels, variant, true));
                contenders.add(3, new JavaLoopContender(numels, variant, false));
                impls = contenders.stream().map(Contender::impl).toList();
                List<Contender> timed = gapNanos == 0 ? contenders
                        : contenders.stream().<Contender>map(c -> new AfterGap(c, gapNanos)).toList();
                Timings more = pass.measure(timed,
                        sofar -> result("", sofar, minQuiet).precise(PRECISION));
                add(auto.lastPath().name().toLowerCase(Locale.ROOT), more);
                return this;
            } finally {
                contenders.forEach(Contender::close);
                // The next case allocates as much again: give the last one's arrays back first.
                System.gc();
            }
        }

        private void add(String path, Timings more) {
            autoPath = path;
            timings = timings == null ? more : timings.then(more);
        }

        /** Which case this is, as a pass's rounds name it. */
        private String key() {
            return String.join("/", variant.name(), size, layout.name(), Long.toString(gapNanos));
        }

        /**
         * This case's rounds for {@link #read}: a line "case KEY AUTO_PATH IMPL,IMPL,... ROUNDS",
         * then the rounds ({@link Timings#lines}).
         */
        void write(List<String> lines) {
            lines.add(String.join(" ", "case", key(), autoPath, String.join(",", impls),
                    Integer.toString(timings.rounds())));
            lines.addAll(timings.lines());
        }

        /** The next case's rounds from {@link #write}'s lines, as one more pass of this case. */
        void read(Iterator<String> lines) {
            String[] head = lines.next().split(" ");
            if (head.length != 5 || !head[0].equals("case") || !head[1].equals(key())) {
                throw new IllegalArgumentException("a pass's rounds name " + String.join(" ", head)
                        + " where case " + key() + " was due");
            }
            List<String> passImpls = List.of(head[3].split(","));
            if (impls != null && !impls.equals(passImpls)) {
                throw new IllegalArgumentException("case " + key() + ": a pass ran " + passImpls + ", another "
                        + impls);
            }
            impls = passImpls;
            add(head[2], Timings.read(lines, Integer.parseInt(head[4]), passImpls.size()));
        }

        /** The passes' rounds together; their quiet rounds alone when there are {@code minQuiet}. */
        CaseResult result(int minQuiet) {
            return result(autoPath, timings, minQuiet);
        }

        private CaseResult result(String path, Timings rounds, int minQuiet) {
            return new CaseResult(variant, size, numels, numels.length == 1 ? "single" : layout.label, path, impls,
                    rounds, minQuiet);
        }
    }

    private static String report(CaseResult result, String suffix) {
        String size = result.label() + suffix;
        Spread serial = result.ratio("java-loop-serial", "netcl");
        Spread best = result.ratio(CaseResult.BEST_JAVA_LOOP, "netcl");
        System.out.printf(Locale.ROOT,
                "%-17s %-24s %3d of %3d rounds (%s), others %4.2f cores, netcl (%-6s) %9.4f ms, "
                        + "java-loop-serial %9.4f ms: serial/netcl %5.2f [%.2f-%.2f], best-java-loop/netcl %5.2f "
                        + "[%.2f-%.2f]%n",
                result.variant.label, size, result.rounds(), result.allRounds(), result.quietOnly() ? "quiet" : "all",
                result.otherCores(), result.autoPath,
                Spread.of(result.roundsMs("netcl")).median(), Spread.of(result.roundsMs("java-loop-serial")).median(),
                serial.median(), serial.q1(), serial.q3(), best.median(), best.q1(), best.q3());
        return result.json();
    }

    private static String quote(String s) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                default -> out.append(c < 0x20 ? String.format("\\u%04x", (int) c) : String.valueOf(c));
            }
        }
        return out.append('"').toString();
    }
}
