package netcl.bench;

import java.util.concurrent.TimeUnit;

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
 * The plain-Java peer on the heap: one float[] per tensor (data, gradient, square average), as
 * a JVM program without off-heap memory holds them, stepped by a loop on one thread and by the
 * same loop split over all cores.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 10, time = 1)
@Fork(1)
@State(Scope.Benchmark)
public class JavaLoopStep {
    @Param({"1024", "65536", "16777216", Sizes.RESNET50})
    public String size;

    private float[][] data;
    private float[][] grad;
    private float[][] squareAvg;
    private Chunks chunks;

    @Setup(Level.Trial)
    public void setUp() {
        long[] numels = Sizes.of(size);
        data = new float[numels.length][];
        grad = new float[numels.length][];
        squareAvg = new float[numels.length][];
        long at = 0;
        for (int t = 0; t < numels.length; t++) {
            int n = Math.toIntExact(numels[t]);
            data[t] = new float[n];
            grad[t] = new float[n];
            squareAvg[t] = new float[n];
            // The values of Block (float i of the list holds value * (1 + i % 7)).
            for (int i = 0; i < n; i++) {
                data[t][i] = 0.5f * (1 + (at + i) % 7);
                grad[t][i] = 1e-3f * (1 + (at + i) % 7);
            }
            at += n;
        }
        chunks = new Chunks(numels);
    }

    @Benchmark
    public void serial() {
        chunks.forEachSerial(this::update);
    }

    @Benchmark
    public void parallel() {
        chunks.forEachParallel(this::update);
    }

    private void update(int t, long from, long to) {
        PlainRmsProp.step(data[t], grad[t], squareAvg[t], (int) from, (int) to);
    }
}
