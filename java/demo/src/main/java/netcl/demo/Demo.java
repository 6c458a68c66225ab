package netcl.demo;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

import netcl.checkpoint.CheckpointException;
import netcl.optim.DType;
import netcl.optim.GradScaler;
import netcl.optim.NetclException;
import netcl.optim.RMSProp;

/**
 * The demo: trains an MLP on the UCI handwritten digits with netcl's RMSProp, repeats the same
 * training with a plain-Java RMSProp, reports how far the two ended apart, and draws both runs'
 * curves. Exit status: 0 when they agree, 1 when they do not (or on a failure), 2 for bad options.
 */
public final class Demo {
    /** Share of the images held out for testing. */
    static final int TEST_DIVISOR = 5;
    /**
     * Largest parameter difference still called agreement. netcl's kernel uses correctly rounded
     * division and square root and rounds every operation like the reference, so on the CPU
     * device the two agree bit for bit; this leaves room for devices that flush subnormal floats
     * to zero, which OpenCL allows.
     */
    static final double TOLERANCE = 1e-5;
    /**
     * With {@code --amp}, netcl trains bf16 parameters and the reference float32 ones, so they
     * cannot agree bit for bit: their held-out accuracies must lie within this much (2 points).
     */
    static final double AMP_ACCURACY_TOLERANCE = 0.02;

    private final DemoOptions options;
    private final PrintStream out;

    private Demo(DemoOptions options, PrintStream out) {
        this.options = options;
        this.out = out;
    }

    public static void main(String[] args) {
        // The chart is drawn off screen; without this AWT may look for a display.
        System.setProperty("java.awt.headless", "true");
        DemoOptions options;
        try {
            options = DemoOptions.parse(args);
        } catch (DemoOptions.BadOptionException e) {
            System.err.println("netcl-demo: " + e.getMessage());
            System.err.print(DemoOptions.usage());
            System.exit(2);
            return;
        }
        if (options.help()) {
            System.out.print(DemoOptions.usage());
            return;
        }
        try {
            Files.createDirectories(options.out());
        } catch (IOException e) {
            // Checked before training, so a bad --out costs no waiting.
            System.err.println("netcl-demo: cannot create the output folder: " + e);
            System.exit(1);
        }
        try {
            System.exit(new Demo(options, System.out).run() ? 0 : 1);
        } catch (NetclException | UnsatisfiedLinkError | IOException | UncheckedIOException e) {
            // No device, no native library, an unwritable PNG, a bad checkpoint: the message says
            // which; a stack trace would only bury it. A plain I/O exception's message is only the
            // path: keep its type. Checkpoint problems have messages of their own.
            Throwable t = e instanceof UncheckedIOException u ? u.getCause() : e;
            boolean ownMessage = !(t instanceof IOException) || t instanceof CheckpointException
                    || t instanceof DemoCheckpoint.MismatchException;
            System.err.println("netcl-demo: " + (ownMessage ? t.getMessage() : t));
            System.exit(1);
        }
    }

    /** Runs the demo with {@code options}, printing to {@code out}; returns whether netcl agreed with the reference. */
    static boolean runDemo(DemoOptions options, PrintStream out) throws IOException {
        return new Demo(options, out).run();
    }

    /** Runs both trainings; returns whether netcl agreed with the reference. */
    private boolean run() throws IOException {
        long demoStart = System.nanoTime();
        DigitsDataset all = DigitsDataset.load();
        DigitsDataset.Split split = all.split(all.size() / TEST_DIVISOR, RandomStream.SPLIT.from(options.seed()));
        Trainer trainer = new Trainer(split.train(), split.test(), options.epochs(), options.seed());
        out.println("netcl demo: an MLP learns the UCI handwritten digits, optimized by netcl's RMSProp");
        out.printf(Locale.ROOT, "data:      %,d images of 8x8 pixels (UCI optical digits, CC BY 4.0): %,d to train, "
                + "%,d held out for testing%n", all.size(), split.train().size(), split.test().size());
        out.printf(Locale.ROOT, "model:     %d-%d-%d, ReLU, softmax cross-entropy: %,d parameters (W1, b1, W2, b2 "
                + "back to back in one segment)%n", Mlp.INPUTS, Mlp.HIDDEN, Mlp.OUTPUTS, Mlp.SIZE);
        out.printf(Locale.ROOT, "training:  %d epochs of %d batches of %d, lr %s, alpha %s, eps %s, momentum %s, "
                + "centered %s, seed %d%n", options.epochs(), trainer.batchesPerEpoch(), Trainer.BATCH_SIZE,
                options.lr(), options.alpha(), DemoOptions.EPS, options.momentum(), options.centered(), options.seed());
        if (options.amp()) {
            out.println("precision: netcl's run in mixed precision (--amp): bf16 parameters and gradients, float32 "
                    + "masters in netcl, loss scaling" + (options.clip() > 0 ? ", gradient norm clipped to "
                    + options.clip() : "") + "; the reference stays float32");
        }

        Trainer.Result netcl;
        float[] netclParams;
        try (Mlp model = trainer.newModel(options.amp() ? DType.BF16 : DType.FP32);
             RMSProp opt = netclOptimizer(model)) {
            GradScaler scaler = options.amp() ? GradScaler.builder().build() : null;
            out.println("device:    " + opt.device());
            int first = 1;
            if (options.resume() != null) {
                first = DemoCheckpoint.resume(options.resume(), opt, scaler, model, options) + 1;
                out.println("resumed:   " + options.resume() + " after epoch " + (first - 1));
            }
            out.println();
            AmpStep ampStep = options.amp() ? new AmpStep(opt, scaler, model, options.clip()) : null;
            Trainer.Listener progress = new ProgressBar(out, ProgressBar.terminalAttached(), options.epochs());
            netcl = trainer.train(model, ampStep != null ? ampStep : opt::step,
                    options.save() == null ? progress : saving(progress, opt, scaler, model), first);
            netclParams = model.parameterValues();
            out.println();
            printSummary("netcl", netcl, split.test().size());
            if (ampStep != null) {
                out.printf(Locale.ROOT, "           loss scale %s at the end; %d of %d steps skipped (inf or NaN "
                        + "gradients)%n", scaler.getScale(), ampStep.skipped(), ampStep.steps());
            }
            if (options.save() != null) {
                out.println("           saved to " + options.save() + " after every epoch (resume with --resume)");
            }
            out.printf(Locale.ROOT, "           %s path: %d kernel launch(es) per step for all %d parameter tensors, "
                    + "%,d bytes copied to the device (0: in place)%n", opt.lastPath().name().toLowerCase(Locale.ROOT),
                    opt.lastLaunchCount(), model.parameters().size(), opt.stagedBytes());
        }

        out.println();
        out.println("reference: the same training (same weights, batches and gradients) with a plain-Java "
                + "RMSProp...");
        Trainer.Result reference;
        float[] referenceParams;
        try (Mlp model = trainer.newModel()) {
            JavaRmsProp opt = new JavaRmsProp(model.params(), model.grads(), options.lr(), options.alpha(),
                    DemoOptions.EPS, options.momentum(), options.centered());
            reference = trainer.train(model, opt::step, stats -> { });
            referenceParams = model.params().toArray(ValueLayout.JAVA_FLOAT);
        }
        printSummary("reference", reference, split.test().size());

        double difference = maxAbsDifference(netclParams, referenceParams);
        String agreement = String.format(Locale.ROOT, "largest |netcl - reference| over %,d parameters after %,d "
                + "steps: %s", Mlp.SIZE, reference.steps(), describe(difference));
        boolean agree;
        out.println();
        if (options.amp()) {
            double gap = Math.abs(netcl.last().testAccuracy() - reference.last().testAccuracy());
            agree = gap <= AMP_ACCURACY_TOLERANCE;
            out.printf(Locale.ROOT, "agreement: test accuracy %.2f%% (bf16, --amp) vs %.2f%% (float32 reference): "
                    + "%.2f points apart%s%n", 100 * netcl.last().testAccuracy(), 100 * reference.last().testAccuracy(),
                    100 * gap, agree ? " -> AGREE" : " -> DIFFER (tolerance " + 100 * AMP_ACCURACY_TOLERANCE + " points)");
            out.println("           " + agreement + " (bf16 parameters: not compared)");
        } else {
            agree = difference <= TOLERANCE;
            out.println("agreement: " + agreement + (agree ? " -> AGREE" : " -> DIFFER (tolerance " + TOLERANCE + ")"));
        }

        Path png = TrainingChart.write(options.out(), String.format(Locale.ROOT,
                "MLP %d-%d-%d on UCI digits: netcl RMSProp vs plain-Java RMSProp", Mlp.INPUTS, Mlp.HIDDEN,
                Mlp.OUTPUTS), String.format(Locale.ROOT, "lr %s, alpha %s, momentum %s, centered %s, batch %d, "
                + "seed %d   |   test accuracy %.1f%%   |   largest |netcl - reference|: %s", options.lr(),
                options.alpha(), options.momentum(), options.centered(), Trainer.BATCH_SIZE, options.seed(),
                100 * netcl.last().testAccuracy(), describe(difference)), netcl, reference);
        out.println("curves:    " + png.toAbsolutePath());
        out.printf(Locale.ROOT, "done in %.1f s%n", (System.nanoTime() - demoStart) / 1e9);
        return agree;
    }

    /** {@code progress}, then a checkpoint to --save after every epoch. */
    private Trainer.Listener saving(Trainer.Listener progress, RMSProp opt, GradScaler scaler, Mlp model) {
        return new Trainer.Listener() {
            @Override
            public void batch(int epoch, int done, int batches, double loss, double accuracy) {
                progress.batch(epoch, done, batches, loss, accuracy);
            }

            @Override
            public void epoch(Trainer.EpochStats stats) {
                progress.epoch(stats);
                try {
                    DemoCheckpoint.save(options.save(), opt, scaler, model, stats.epoch(), options.seed());
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        };
    }

    private RMSProp netclOptimizer(Mlp model) {
        RMSProp.Builder builder = RMSProp.builder().lr(options.lr()).alpha(options.alpha()).eps(DemoOptions.EPS)
                .momentum(options.momentum()).centered(options.centered());
        if (options.device() != null) {
            builder.device(options.device());
        }
        return builder.build(model.parameters());
    }

    private void printSummary(String name, Trainer.Result run, int testSize) {
        Trainer.EpochStats last = run.last();
        out.printf(Locale.ROOT, "%-10s test accuracy %.2f%% (%d of %d held-out images), training loss %.4f%n",
                name + ":", 100 * last.testAccuracy(), Math.round(last.testAccuracy() * testSize), testSize,
                last.trainLoss());
        out.printf(Locale.ROOT, "           %.2f s in all, %.3f s of it (%.1f%%) in opt.step(): %,d steps, %.1f us "
                + "each%s%n", run.totalNanos() / 1e9, run.stepNanos() / 1e9, 100 * run.stepShare(), run.steps(),
                run.stepNanos() / 1e3 / run.steps(), run.epochs().size() == 1 ? ""
                        : String.format(Locale.ROOT, ", %.1f us after the first epoch", run.warmStepMicros()));
    }

    private static String describe(double difference) {
        return difference == 0 ? "0 (bit for bit identical)" : String.format(Locale.ROOT, "%.3g", difference);
    }

    /** Largest absolute difference; NaN where only one side is NaN counts as infinitely far. */
    static double maxAbsDifference(float[] a, float[] b) {
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            if (Float.isNaN(a[i]) && Float.isNaN(b[i])) {
                continue;
            }
            double d = Math.abs((double) a[i] - b[i]);
            max = Math.max(max, Double.isNaN(d) ? Double.POSITIVE_INFINITY : d);
        }
        return max;
    }
}
