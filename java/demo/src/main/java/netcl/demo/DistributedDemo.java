package netcl.demo;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

import netcl.dist.Communicator;
import netcl.dist.ShardedRMSProp;
import netcl.optim.RMSProp;

/**
 * The demo's MLP trained data-parallel, one process per rank under {@code mpirun}
 * ({@code scripts/demo --ranks N}): every rank holds the model, takes its part of every global
 * batch of {@value Trainer#BATCH_SIZE} (rank r the images from n·r/W to n·(r+1)/W), and
 * {@link ShardedRMSProp} averages the gradients and updates each rank's shard of the parameters.
 * Rank 0 also runs the single-process reference over the same global batches: one RMSProp
 * stepped with the ranks' part gradients averaged in rank order, ((g0 + g1) + ...) / W. With 2
 * ranks the two agree bit for bit. {@code --save} and {@code --resume} write and read the
 * single-process demo's checkpoints (see {@link DemoCheckpoint}), with any number of ranks; the
 * reference resumes from the same file. {@code --amp} is refused: the sharded optimizer takes
 * float32 parameters only.
 */
public final class DistributedDemo {
    private DistributedDemo() {
    }

    public static void main(String[] args) {
        DemoOptions options;
        try {
            options = DemoOptions.parse(args);
        } catch (DemoOptions.BadOptionException e) {
            System.err.println("netcl-demo: " + e.getMessage());
            System.exit(2);
            return;
        }
        int status;
        try (Communicator comm = Communicator.world()) {
            status = run(comm, options);
        }
        System.exit(status);
    }

    private static RMSProp.Builder options(RMSProp.Builder b, DemoOptions o) {
        return b.lr(o.lr()).alpha(o.alpha()).eps(DemoOptions.EPS).momentum(o.momentum()).centered(o.centered());
    }

    /** Trains and prints; returns the exit status (0: trained, 1: a checkpoint failed, 2: a refused option). */
    private static int run(Communicator comm, DemoOptions options) {
        int ranks = comm.size();
        int rank = comm.rank();
        boolean root = rank == 0;
        if (options.amp()) {
            if (root) {
                System.err.println("netcl-demo: --amp is not supported with --ranks: ShardedRMSProp takes float32 "
                        + "parameters only (run the single-process demo for mixed precision)");
            }
            return 2;
        }
        try {
            train(comm, options);
            return 0;
        } catch (IOException e) {
            // Every rank fails a checkpoint together; each says why in its own words.
            System.err.println("netcl-demo: rank " + rank + ": " + e.getMessage());
            return 1;
        }
    }

    private static void train(Communicator comm, DemoOptions options) throws IOException {
        int ranks = comm.size();
        int rank = comm.rank();
        boolean root = rank == 0;
        DigitsDataset all = DigitsDataset.load();
        DigitsDataset.Split split = all.split(all.size() / Demo.TEST_DIVISOR, RandomStream.SPLIT.from(options.seed()));
        DigitsDataset train = split.train();
        Trainer trainer = new Trainer(train, split.test(), options.epochs(), options.seed());
        if (root) {
            System.out.println(String.format(Locale.ROOT, "netcl demo, data-parallel: %d ranks under MPI, each takes "
                    + "1/%d of every batch of %d; ShardedRMSProp keeps 1/%d of the optimizer state per rank%n"
                    + "model %d-%d-%d (%,d parameters), %d epochs, lr %s, alpha %s, momentum %s, centered %s, seed %d",
                    ranks, ranks, Trainer.BATCH_SIZE, ranks, Mlp.INPUTS, Mlp.HIDDEN, Mlp.OUTPUTS, Mlp.SIZE,
                    options.epochs(), options.lr(), options.alpha(), options.momentum(), options.centered(),
                    options.seed()));
        }
        int[] labels = new int[Trainer.BATCH_SIZE];
        try (Mlp model = trainer.newModel(); Mlp reference = root ? trainer.newModel() : null;
             ShardedRMSProp opt = ShardedRMSProp.builder(comm).lr(options.lr()).alpha(options.alpha())
                     .eps(DemoOptions.EPS).momentum(options.momentum()).centered(options.centered())
                     .build(model.parameters());
             RMSProp referenceOpt = root ? options(RMSProp.builder(), options).build(reference.parameters()) : null) {
            int first = 1;
            if (options.resume() != null) {
                first = DemoCheckpoint.resume(options.resume(), opt, model, options) + 1;
                if (root) {
                    DemoCheckpoint.resume(options.resume(), referenceOpt, null, reference, options);
                    System.out.println("resumed from " + options.resume() + " after epoch " + (first - 1));
                }
            }
            // Per step, so that neither creation's checks (which wait for slower starts) nor checkpoints count.
            long[] stepNanos = new long[1];
            long[] communicationNanos = new long[1];
            EpochEnd afterEpoch = epoch -> {
                printAccuracy(root, epoch, model, split.test(), labels);
                if (options.save() != null) {
                    DemoCheckpoint.save(options.save(), opt, model, epoch, options.seed());
                }
            };
            int steps = forEachBatch(options, first, train, (permutation, seen, n) -> {
                partGradient(model, train, permutation, seen, n, rank, ranks, labels);
                long t = System.nanoTime();
                long communicated = comm.communicationNanos();
                opt.step();
                stepNanos[0] += System.nanoTime() - t;
                communicationNanos[0] += comm.communicationNanos() - communicated;
            }, afterEpoch);
            long stateBytes = opt.stateBytes();
            System.out.println(String.format(Locale.ROOT, "rank %d: shard %,d of %,d floats, optimizer state %,d bytes, "
                    + "%.3f ms per step of which %.3f ms communicating (%d steps)", rank, opt.shardSize(), Mlp.SIZE,
                    stateBytes, stepNanos[0] / 1e6 / steps, communicationNanos[0] / 1e6 / steps, steps));
            comm.barrier();
            if (root) {
                // The reference runs after the data-parallel training, so the ranks never wait for it.
                float[] sum = new float[(int) Mlp.SIZE];
                forEachBatch(options, first, train, (permutation, seen, n) -> {
                    Arrays.fill(sum, 0f);
                    for (int r = 0; r < ranks; r++) {
                        partGradient(reference, train, permutation, seen, n, r, ranks, labels);
                        for (int k = 0; k < sum.length; k++) {
                            sum[k] += reference.grads().getAtIndex(ValueLayout.JAVA_FLOAT, k);
                        }
                    }
                    for (int k = 0; k < sum.length; k++) {
                        reference.grads().setAtIndex(ValueLayout.JAVA_FLOAT, k, sum[k] / ranks);
                    }
                    referenceOpt.step();
                }, epoch -> { });
                Mlp.BatchResult held = Trainer.evaluate(model, split.test(), labels);
                Mlp.BatchResult heldRef = Trainer.evaluate(reference, split.test(), labels);
                double diff = 0;
                for (long k = 0; k < Mlp.SIZE; k++) {
                    diff = Math.max(diff, Math.abs(model.params().getAtIndex(ValueLayout.JAVA_FLOAT, k)
                            - (double) reference.params().getAtIndex(ValueLayout.JAVA_FLOAT, k)));
                }
                System.out.println(String.format(Locale.ROOT, "accuracy: %.1f%% data-parallel, %.1f%% single-process "
                        + "reference over the same global batches", 100.0 * held.correct() / split.test().size(),
                        100.0 * heldRef.correct() / split.test().size()));
                System.out.println(String.format(Locale.ROOT, "largest |data-parallel - single-process| over %,d "
                        + "parameters after %,d steps: %s", Mlp.SIZE, steps, diff == 0 ? "0 (bit for bit)" : diff));
                if (options.save() != null) {
                    System.out.println("saved to " + options.save() + " after every epoch (resume with --resume, "
                            + "with any number of ranks or none)");
                }
            }
        }
    }

    private interface BatchStep {
        void run(int[] permutation, int seen, int n);
    }

    private interface EpochEnd {
        void run(int epoch) throws IOException;
    }

    /**
     * The global batches of the epochs from {@code first} on, in the order the seed draws (the
     * same on every rank and for the reference; the orders of the epochs before are drawn and
     * dropped, as {@link Trainer} does), then {@code afterEpoch}. Returns the steps.
     */
    private static int forEachBatch(DemoOptions options, int first, DigitsDataset train, BatchStep step,
                                    EpochEnd afterEpoch) throws IOException {
        SplittableRandom order = RandomStream.ORDER.from(options.seed());
        int steps = 0;
        for (int epoch = 1; epoch <= options.epochs(); epoch++) {
            int[] permutation = DigitsDataset.permutation(train.size(), order);
            if (epoch < first) {
                continue;
            }
            for (int seen = 0; seen < train.size(); seen += Trainer.BATCH_SIZE) {
                step.run(permutation, seen, Math.min(Trainer.BATCH_SIZE, train.size() - seen));
                steps++;
            }
            afterEpoch.run(epoch);
        }
        return steps;
    }

    private static void printAccuracy(boolean root, int epoch, Mlp model, DigitsDataset test, int[] labels) {
        if (root) {
            Mlp.BatchResult held = Trainer.evaluate(model, test, labels);
            System.out.println(String.format(Locale.ROOT, "epoch %2d: held-out accuracy %.1f%%", epoch,
                    100.0 * held.correct() / test.size()));
        }
    }

    /** Forward and backward over rank r's part of the batch at {@code seen}; no part: zero gradient. */
    private static void partGradient(Mlp model, DigitsDataset train, int[] permutation, int seen, int n, int r,
                                     int ranks, int[] labels) {
        int from = n * r / ranks;
        int to = n * (r + 1) / ranks;
        if (from == to) {
            model.grads().fill((byte) 0);
            return;
        }
        MemorySegment input = model.input();
        for (int b = 0; b < to - from; b++) {
            int index = permutation[seen + from + b];
            train.copyImage(index, input, (long) b * Mlp.INPUTS);
            labels[b] = train.label(index);
        }
        model.forward(to - from, labels);
        model.backward(to - from, labels);
    }
}
