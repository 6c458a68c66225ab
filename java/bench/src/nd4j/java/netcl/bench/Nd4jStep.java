package netcl.bench;

import java.util.concurrent.TimeUnit;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.GradientUpdater;
import org.nd4j.linalg.learning.config.RmsProp;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The ND4J peer: Deeplearning4j's RmsProp updater (a fused libnd4j op that turns the gradient
 * into the update in place, keeping the square average in a state view) followed by
 * {@code params.subi(update)}, which is how a DL4J network takes a step.
 *
 * <p>DL4J keeps all parameters and gradients as views of one flat array and runs the updater
 * once per block of consecutive parameters with the same configuration; for the ResNet-50 case
 * that is one block, so this benchmark steps one flat array of the list's total size.
 *
 * <p>The updater overwrites the gradient with the update. In a network, back-propagation
 * writes a fresh gradient there before each step; here the previous update stands in for it
 * (no extra copy is timed), and its values settle near {@code lr}, so no denormals appear.
 * That is why this peer alone does not step the two alternating gradient sets of
 * {@link Gradients}: restoring one before each step would time a copy. Its gradient changes
 * from step to step all the same, and the plain variant it runs cannot diverge on it.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 10, time = 1)
@Fork(1)
@State(Scope.Benchmark)
public class Nd4jStep {
    @Param({"1024", "65536", "16777216", Sizes.RESNET50})
    public String size;

    private INDArray params;
    private INDArray gradient;
    private GradientUpdater<?> updater;
    private int iteration;

    @Setup(Level.Trial)
    public void setUp() {
        int n = Math.toIntExact(Sizes.total(Sizes.of(size)));
        float[] p = new float[n];
        float[] g = new float[n];
        for (int i = 0; i < n; i++) {
            p[i] = 0.5f * (1 + i % 7);
            g[i] = 1e-3f * (1 + i % 7);
        }
        params = Nd4j.createFromArray(p);
        gradient = Nd4j.createFromArray(g);
        INDArray squareAvg = Nd4j.zeros(DataType.FLOAT, n);
        updater = new RmsProp(Hyper.LR, Hyper.ALPHA, Hyper.EPS).instantiate(squareAvg, true);
    }

    @Benchmark
    public void updater() {
        updater.applyUpdater(gradient, iteration++, 0);
        params.subi(gradient);
    }
}
