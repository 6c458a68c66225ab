package netcl.demo;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.SplittableRandom;

import netcl.optim.DType;
import netcl.optim.Parameter;
import netcl.optim.Tensors;

/**
 * A two-layer perceptron, 64 -> 128 (ReLU) -> 10 (softmax cross-entropy), computed in plain Java
 * over off-heap float32 memory.
 *
 * <p>Its parameters and gradients are float32, or, for mixed precision, {@link DType#BF16}: then
 * the forward pass converts the bf16 weights to a float32 copy and computes in float32, and the
 * backward pass computes float32 gradients and stores them as bf16 after multiplying them by the
 * loss scale ({@link #gradScale(double)}), as backpropagating a scaled loss would.
 *
 * <p>All four parameter tensors are slices of one {@link Tensors#allocate} segment, laid out back
 * to back (W1, b1, W2, b2), and the gradients are slices of a second segment with the same
 * layout: netcl then updates every parameter in place, with one kernel launch per step on the
 * kernel path (small models like this one take the host path: no launch at all).
 * Weights are stored like PyTorch's {@code nn.Linear}: {@code [out][in]}, row-major.
 */
public final class Mlp implements AutoCloseable {
    public static final int INPUTS = DigitsDataset.PIXELS;
    public static final int HIDDEN = 128;
    public static final int OUTPUTS = DigitsDataset.CLASSES;

    // Offsets of the slices, in floats.
    private static final long W1 = 0;
    private static final long B1 = W1 + (long) HIDDEN * INPUTS;
    private static final long W2 = B1 + HIDDEN;
    private static final long B2 = W2 + (long) OUTPUTS * HIDDEN;
    /** Number of parameters: 9,610. */
    public static final long SIZE = B2 + OUTPUTS;

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private final Arena arena;
    private final int maxBatch;
    private final DType dtype;
    private final MemorySegment params;
    private final MemorySegment grads;
    /** The float32 values computed with: {@link #params} itself, or its bf16 values converted. */
    private final MemorySegment weights;
    /** The float32 gradients computed: {@link #grads} itself, or stored to it as bf16. */
    private final MemorySegment gradients;
    private float gradScale = 1f;
    private final List<Parameter> parameters;
    // The batch's input and the activations of its forward pass, which the backward pass reads.
    private final MemorySegment input;
    private final MemorySegment hidden;
    private final MemorySegment probs;
    /** Logits in the forward pass, logit gradients in the backward pass, one image at a time. */
    private final float[] rowScratch = new float[OUTPUTS];

    /** Loss summed over a batch (not averaged) and how many images were classified right. */
    public record BatchResult(double lossSum, int correct) {
    }

    /**
     * A model for batches of up to {@code maxBatch} images, initialized from {@code random}: He
     * uniform for the ReLU layer, Glorot uniform for the output layer, zero biases.
     */
    public Mlp(int maxBatch, SplittableRandom random) {
        this(maxBatch, random, DType.FP32);
    }

    /**
     * A model whose parameters and gradients are {@code dtype} (FP32 or BF16); BF16 weights are
     * the float32 initial weights rounded to nearest even.
     */
    public Mlp(int maxBatch, SplittableRandom random, DType dtype) {
        if (maxBatch <= 0) {
            throw new IllegalArgumentException("maxBatch must be positive, got " + maxBatch);
        }
        if (dtype != DType.FP32 && dtype != DType.BF16) {
            throw new IllegalArgumentException("the model is FP32 or BF16, got " + dtype);
        }
        this.maxBatch = maxBatch;
        this.dtype = dtype;
        this.arena = Arena.ofConfined();
        this.params = Tensors.allocate(arena, SIZE, dtype);
        this.grads = Tensors.allocate(arena, SIZE, dtype);
        this.weights = dtype == DType.FP32 ? params : arena.allocate(F, SIZE);
        this.gradients = dtype == DType.FP32 ? grads : arena.allocate(F, SIZE);
        this.parameters = List.of(wrap(W1, B1), wrap(B1, W2), wrap(W2, B2), wrap(B2, SIZE));
        this.input = arena.allocate(F, (long) maxBatch * INPUTS);
        this.hidden = arena.allocate(F, (long) maxBatch * HIDDEN);
        this.probs = arena.allocate(F, (long) maxBatch * OUTPUTS);
        fillUniform(W1, B1, Math.sqrt(6.0 / INPUTS), random);
        fillUniform(W2, B2, Math.sqrt(6.0 / (HIDDEN + OUTPUTS)), random);
        if (dtype == DType.BF16) {
            for (long i = 0; i < SIZE; i++) {
                params.setAtIndex(Bf16.LAYOUT, i, Bf16.fromFloat(weights.getAtIndex(F, i)));
            }
        }
    }

    private Parameter wrap(long from, long to) {
        long offset = from * dtype.byteSize();
        long bytes = (to - from) * dtype.byteSize();
        return Parameter.wrap(params.asSlice(offset, bytes), grads.asSlice(offset, bytes), dtype);
    }

    private void fillUniform(long from, long to, double bound, SplittableRandom random) {
        for (long i = from; i < to; i++) {
            weights.setAtIndex(F, i, (float) random.nextDouble(-bound, bound));
        }
    }

    public DType dtype() {
        return dtype;
    }

    /**
     * The loss scale the next backward passes multiply the gradients by before storing them (a
     * GradScaler's current scale); 1 at first.
     */
    public void gradScale(double scale) {
        if (!(scale > 0) || Float.isInfinite((float) scale)) {
            throw new IllegalArgumentException("the gradient scale must be a finite float > 0, got " + scale);
        }
        this.gradScale = (float) scale;
    }

    /** Every parameter's value as a float (bf16 values converted exactly). */
    public float[] parameterValues() {
        if (dtype == DType.FP32) {
            return params.toArray(F);
        }
        float[] values = new float[(int) SIZE];
        for (int i = 0; i < values.length; i++) {
            values[i] = Bf16.toFloat(params.getAtIndex(Bf16.LAYOUT, i));
        }
        return values;
    }

    /** W1, b1, W2, b2, each wrapping its slice of {@link #params()} and of {@link #grads()}. */
    public List<Parameter> parameters() {
        return parameters;
    }

    /** Every parameter, as one segment of {@link #SIZE} elements of {@link #dtype()}. */
    public MemorySegment params() {
        return params;
    }

    /** Every gradient, laid out like {@link #params()}. */
    public MemorySegment grads() {
        return grads;
    }

    public int maxBatch() {
        return maxBatch;
    }

    /** The input rows of the next batch, {@link #INPUTS} floats per image; callers fill it. */
    public MemorySegment input() {
        return input;
    }

    /** Runs the first {@code n} rows of {@link #input()} through the model. */
    public BatchResult forward(int n, int[] labels) {
        checkBatch(n, labels);
        MemorySegment x = input;
        MemorySegment p = weights;
        if (dtype == DType.BF16) {
            for (long i = 0; i < SIZE; i++) {
                p.setAtIndex(F, i, Bf16.toFloat(params.getAtIndex(Bf16.LAYOUT, i)));
            }
        }
        for (int b = 0; b < n; b++) {
            long xRow = (long) b * INPUTS;
            for (int j = 0; j < HIDDEN; j++) {
                long wRow = W1 + (long) j * INPUTS;
                float z = p.getAtIndex(F, B1 + j);
                for (int i = 0; i < INPUTS; i++) {
                    z += x.getAtIndex(F, xRow + i) * p.getAtIndex(F, wRow + i);
                }
                hidden.setAtIndex(F, (long) b * HIDDEN + j, Math.max(z, 0f));
            }
        }
        double lossSum = 0;
        int correct = 0;
        float[] logits = rowScratch;
        for (int b = 0; b < n; b++) {
            long hRow = (long) b * HIDDEN;
            int best = 0;
            for (int k = 0; k < OUTPUTS; k++) {
                long wRow = W2 + (long) k * HIDDEN;
                float z = p.getAtIndex(F, B2 + k);
                for (int j = 0; j < HIDDEN; j++) {
                    z += hidden.getAtIndex(F, hRow + j) * p.getAtIndex(F, wRow + j);
                }
                logits[k] = z;
                best = z > logits[best] ? k : best;
            }
            // Softmax shifted by the largest logit, so exp cannot overflow.
            double sum = 0;
            for (int k = 0; k < OUTPUTS; k++) {
                sum += Math.exp(logits[k] - logits[best]);
            }
            for (int k = 0; k < OUTPUTS; k++) {
                probs.setAtIndex(F, (long) b * OUTPUTS + k, (float) (Math.exp(logits[k] - logits[best]) / sum));
            }
            lossSum += Math.log(sum) - (logits[labels[b]] - logits[best]);
            correct += best == labels[b] ? 1 : 0;
        }
        return new BatchResult(lossSum, correct);
    }

    /**
     * Writes into {@link #grads()} the gradient of the mean loss of the last {@link #forward}
     * (same {@code n} and labels), times {@link #gradScale(double)}. It overwrites rather than
     * accumulates, so no zeroGrad is needed between steps.
     */
    public void backward(int n, int[] labels) {
        checkBatch(n, labels);
        MemorySegment g = gradients;
        MemorySegment p = weights;
        g.fill((byte) 0);
        float scale = 1f / n;
        float[] dz = rowScratch;
        for (int b = 0; b < n; b++) {
            long hRow = (long) b * HIDDEN;
            long xRow = (long) b * INPUTS;
            // Output layer: d loss / d logit = (softmax - one-hot) / n.
            for (int k = 0; k < OUTPUTS; k++) {
                dz[k] = (probs.getAtIndex(F, (long) b * OUTPUTS + k) - (k == labels[b] ? 1f : 0f)) * scale;
                long wRow = W2 + (long) k * HIDDEN;
                g.setAtIndex(F, B2 + k, g.getAtIndex(F, B2 + k) + dz[k]);
                for (int j = 0; j < HIDDEN; j++) {
                    g.setAtIndex(F, wRow + j, g.getAtIndex(F, wRow + j) + dz[k] * hidden.getAtIndex(F, hRow + j));
                }
            }
            for (int j = 0; j < HIDDEN; j++) {
                // The ReLU passes no gradient where its output is 0.
                if (hidden.getAtIndex(F, hRow + j) <= 0f) {
                    continue;
                }
                float dh = 0f;
                for (int k = 0; k < OUTPUTS; k++) {
                    dh += dz[k] * p.getAtIndex(F, W2 + (long) k * HIDDEN + j);
                }
                long wRow = W1 + (long) j * INPUTS;
                g.setAtIndex(F, B1 + j, g.getAtIndex(F, B1 + j) + dh);
                for (int i = 0; i < INPUTS; i++) {
                    g.setAtIndex(F, wRow + i, g.getAtIndex(F, wRow + i) + dh * input.getAtIndex(F, xRow + i));
                }
            }
        }
        if (dtype == DType.BF16) {
            for (long i = 0; i < SIZE; i++) {
                grads.setAtIndex(Bf16.LAYOUT, i, Bf16.fromFloat(g.getAtIndex(F, i) * gradScale));
            }
        } else if (gradScale != 1f) {
            for (long i = 0; i < SIZE; i++) {
                g.setAtIndex(F, i, g.getAtIndex(F, i) * gradScale);
            }
        }
    }

    private void checkBatch(int n, int[] labels) {
        if (n <= 0 || n > maxBatch || labels.length < n) {
            throw new IllegalArgumentException("batch of " + n + " images with " + labels.length
                    + " labels; the model takes 1.." + maxBatch);
        }
    }

    /** Frees the parameters, gradients and activations; close optimizers over them first. */
    @Override
    public void close() {
        arena.close();
    }
}
