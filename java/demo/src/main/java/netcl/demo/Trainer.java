package netcl.demo;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import netcl.optim.DType;

/**
 * The training loop: mini-batches in a per-epoch order drawn from the seed, forward, backward,
 * one optimizer step per batch, and an evaluation on the held-out images after every epoch.
 *
 * <p>The optimizer is only a {@code Runnable} step over {@link Mlp#parameters()}, so netcl's
 * RMSProp and the plain-Java reference run exactly the same loop: same initial weights, same
 * batches, same gradient code. Any difference between their results is the optimizers'.
 */
public final class Trainer {
    public static final int BATCH_SIZE = 32;

    private final DigitsDataset train;
    private final DigitsDataset test;
    private final int epochs;
    private final long seed;

    /** What a training run reports while it runs; batch updates may be ignored. */
    public interface Listener {
        /** After each step: batches done in this epoch, and the running means over them. */
        default void batch(int epoch, int done, int batches, double loss, double accuracy) {
        }

        void epoch(EpochStats stats);
    }

    /**
     * One epoch: mean training loss and accuracy over its batches (each measured before that
     * batch's step), loss and accuracy on the held-out images, its wall time and the part of it
     * spent in the optimizer's steps. Epochs count from 1.
     */
    public record EpochStats(int epoch, double trainLoss, double trainAccuracy, double testLoss,
                             double testAccuracy, long nanos, long stepNanos) {
    }

    /** A finished run: its epochs, wall time (training and evaluation) and number of steps. */
    public record Result(List<EpochStats> epochs, long totalNanos, int steps) {
        public EpochStats last() {
            return epochs.getLast();
        }

        /** Time spent in the optimizer's step calls alone. */
        public long stepNanos() {
            return epochs.stream().mapToLong(EpochStats::stepNanos).sum();
        }

        public double stepShare() {
            return (double) stepNanos() / totalNanos;
        }

        /**
         * Mean step time in microseconds without the first epoch, during which the JIT compiler is
         * still at work (the steps of both optimizers are several times slower there); needs two
         * epochs or more.
         */
        public double warmStepMicros() {
            if (epochs.size() < 2) {
                throw new IllegalStateException("one epoch only: no warm steps");
            }
            return (stepNanos() - epochs.getFirst().stepNanos()) / 1e3 / (steps - steps / epochs.size());
        }
    }

    public Trainer(DigitsDataset train, DigitsDataset test, int epochs, long seed) {
        if (epochs < 1) {
            throw new IllegalArgumentException("epochs must be >= 1, got " + epochs);
        }
        this.train = train;
        this.test = test;
        this.epochs = epochs;
        this.seed = seed;
    }

    /** A model with this trainer's initial weights: every call gives the same ones. */
    public Mlp newModel() {
        return new Mlp(BATCH_SIZE, RandomStream.INIT.from(seed));
    }

    /** {@link #newModel()} with parameters and gradients of {@code dtype} (FP32 or BF16). */
    public Mlp newModel(DType dtype) {
        return new Mlp(BATCH_SIZE, RandomStream.INIT.from(seed), dtype);
    }

    public int batchesPerEpoch() {
        return (train.size() + BATCH_SIZE - 1) / BATCH_SIZE;
    }

    /** Trains {@code model} (fresh from {@link #newModel()}), calling {@code step} after each backward pass. */
    public Result train(Mlp model, Runnable step, Listener listener) {
        return train(model, step, listener, 1);
    }

    /**
     * Trains from epoch {@code first} on (counted from 1): {@code model} and the optimizer behind
     * {@code step} hold the state after epoch {@code first - 1} (a resumed checkpoint); the batch
     * orders of the epochs before are drawn and dropped, so every later epoch sees the batches an
     * uninterrupted run sees.
     */
    public Result train(Mlp model, Runnable step, Listener listener, int first) {
        if (first < 1 || first > epochs) {
            throw new IllegalArgumentException("first epoch must be in 1.." + epochs + ", got " + first);
        }
        SplittableRandom order = RandomStream.ORDER.from(seed);
        for (int epoch = 1; epoch < first; epoch++) {
            DigitsDataset.permutation(train.size(), order);
        }
        int[] labels = new int[BATCH_SIZE];
        int batches = batchesPerEpoch();
        List<EpochStats> stats = new ArrayList<>();
        long start = System.nanoTime();
        for (int epoch = first; epoch <= epochs; epoch++) {
            long epochStart = System.nanoTime();
            int[] permutation = DigitsDataset.permutation(train.size(), order);
            double lossSum = 0;
            int correct = 0;
            int seen = 0;
            long stepNanos = 0;
            for (int batch = 0; batch < batches; batch++) {
                int n = Math.min(BATCH_SIZE, train.size() - seen);
                for (int b = 0; b < n; b++) {
                    int index = permutation[seen + b];
                    train.copyImage(index, model.input(), (long) b * Mlp.INPUTS);
                    labels[b] = train.label(index);
                }
                Mlp.BatchResult result = model.forward(n, labels);
                model.backward(n, labels);
                long t = System.nanoTime();
                step.run();
                stepNanos += System.nanoTime() - t;
                lossSum += result.lossSum();
                correct += result.correct();
                seen += n;
                listener.batch(epoch, batch + 1, batches, lossSum / seen, (double) correct / seen);
            }
            Mlp.BatchResult held = evaluate(model, test, labels);
            EpochStats s = new EpochStats(epoch, lossSum / seen, (double) correct / seen,
                    held.lossSum() / test.size(), (double) held.correct() / test.size(),
                    System.nanoTime() - epochStart, stepNanos);
            stats.add(s);
            listener.epoch(s);
        }
        return new Result(List.copyOf(stats), System.nanoTime() - start, (epochs - first + 1) * batches);
    }

    /** Loss summed and correct answers counted over all of {@code data}, batch by batch. */
    static Mlp.BatchResult evaluate(Mlp model, DigitsDataset data, int[] labels) {
        double lossSum = 0;
        int correct = 0;
        for (int from = 0; from < data.size(); from += model.maxBatch()) {
            int n = Math.min(model.maxBatch(), data.size() - from);
            for (int b = 0; b < n; b++) {
                data.copyImage(from + b, model.input(), (long) b * Mlp.INPUTS);
                labels[b] = data.label(from + b);
            }
            Mlp.BatchResult r = model.forward(n, labels);
            lossSum += r.lossSum();
            correct += r.correct();
        }
        return new Mlp.BatchResult(lossSum, correct);
    }
}
